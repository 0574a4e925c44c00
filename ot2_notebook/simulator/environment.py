"""Which simulated robot to launch, and the simulator's own environment.

The kernel side (client, magics, widgets) lives in the user's Jupyter environment. The
simulated robot's server needs ``opentrons`` 8, whose pins (``numpy<2``,
``jsonschema<4.18``) break a current Jupyter, so it runs from an environment of its own, the
way a real robot is a machine of its own. This module decides which one, in this order:

1. what the caller names: ``python=`` (an interpreter whose environment has the simulator)
   or ``command=`` (an argv that runs ``python -m ot2_notebook.simulator``'s equivalent);
2. the environment variables ``OT2_SIM_PYTHON`` or ``OT2_SIM_COMMAND``;
3. an ``ot2-sim`` on ``PATH`` (pipx, ``uv tool``) of this package's version that runs the
   server itself (others are skipped, and the choice says why);
4. this environment, if it can import the server (opentrons, fastapi, uvicorn);
5. otherwise an environment set up once in the user's cache folder
   (``platformdirs.user_cache_dir("ot2-notebook")``, or ``OT2_SIM_CACHE_DIR``), from the same
   source this package was installed from: its version on the package index, or the local
   folder, editable checkout or wheel that pip recorded in ``direct_url.json``. A file lock
   keeps two kernels from building it at once; a marker records what it was built from, and
   it is built again when that changes. ``uv`` makes it fast when on ``PATH``; ``venv`` and
   pip do it otherwise.

Standard library only (``platformdirs`` is imported when the cache folder is needed): the
kernel side imports this, and it must never import the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ot2_notebook._version import __version__

__all__ = [
    "ENV_BASE_PYTHON",
    "ENV_CACHE_DIR",
    "ENV_COMMAND",
    "ENV_INSTALLER",
    "ENV_PYTHON",
    "SimulatorChoice",
    "SimulatorError",
    "SimulatorSetupError",
    "can_run_server",
    "find_simulator",
    "resolve_simulator",
    "setup_simulator",
    "simulator_env_dir",
]

#: An interpreter whose environment has the simulator (``ot2-notebook[sim]``).
ENV_PYTHON = "OT2_SIM_PYTHON"
#: A command (shell words) that runs the simulator's command line, e.g. a pipx ``ot2-sim``.
ENV_COMMAND = "OT2_SIM_COMMAND"
#: Where the simulator's own environment is set up (default: the user's cache folder).
ENV_CACHE_DIR = "OT2_SIM_CACHE_DIR"
#: The Python (3.10-3.12) that the simulator's environment is built on.
ENV_BASE_PYTHON = "OT2_SIM_BASE_PYTHON"
#: ``uv`` or ``pip``: what builds the simulator's environment (default: uv when on PATH).
ENV_INSTALLER = "OT2_SIM_INSTALLER"
#: Set by ``ot2-sim`` when it hands over to another environment (no second hand-over).
ENV_HANDED_OVER = "OT2_SIM_HANDED_OVER"

DISTRIBUTION = "ot2-notebook"
SERVER_MODULES = ("opentrons", "fastapi", "uvicorn")
#: The Pythons opentrons 8 installs on (its numpy<2 has no wheels for 3.13), newest first.
SIM_PYTHONS = ((3, 12), (3, 11), (3, 10))
MARKER = "ot2-notebook-sim.json"
MARKER_FORMAT = 1

Progress = Callable[[str], None]


class SimulatorError(RuntimeError):
    """The simulated robot could not be started."""


class SimulatorSetupError(SimulatorError):
    """The simulator's own environment could not be found or set up."""


@dataclass(frozen=True)
class SimulatorChoice:
    """A simulator to launch: ``command`` plus the server's own options runs it.

    ``origin`` says where it was found (``"python="``, ``"command="``, ``"OT2_SIM_PYTHON"``,
    ``"OT2_SIM_COMMAND"``, ``"PATH"``, ``"this environment"``, ``"cache"``), ``reason``
    says it in words, ``ready`` is false for a cache environment still to be set up, and
    ``skipped`` lists the candidates passed over, with why.
    """

    command: tuple[str, ...]
    origin: str
    reason: str
    ready: bool = True
    skipped: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        lines = [f"simulator: {shlex.join(self.command)}", f"  chosen: {self.reason}"]
        if not self.ready:
            lines.append("  not set up yet: the first start sets it up (or run `ot2-sim setup`)")
        lines += [f"  skipped: {note}" for note in self.skipped]
        return "\n".join(lines)


def _module_command(python: str) -> tuple[str, ...]:
    return (python, "-m", "ot2_notebook.simulator")


def can_run_server() -> bool:
    """Whether this environment has the server's dependencies, opentrons 8 among them
    (without importing them: this is cheap)."""
    if not all(importlib.util.find_spec(name) is not None for name in SERVER_MODULES):
        return False
    try:
        return importlib.metadata.version("opentrons").split(".")[0] == "8"
    except importlib.metadata.PackageNotFoundError:
        return False


def _print(message: str) -> None:
    print(message, flush=True)


# -- discovery --------------------------------------------------------------------------------


def find_simulator(
    *, python: str | None = None, command: str | Sequence[str] | None = None
) -> SimulatorChoice:
    """Which simulator ``start()`` would launch, and why; sets nothing up.

    Raises :class:`SimulatorSetupError` for a configuration that cannot work (both a
    command and an interpreter, or an interpreter that does not exist).
    """
    if python is not None and command is not None:
        raise SimulatorSetupError("Give either python= or command= for the simulator, not both.")
    if command is not None:
        return SimulatorChoice(_split(command, "command="), "command=", "the command= given")
    if python is not None:
        return SimulatorChoice(
            _module_command(_interpreter(python, "python=")), "python=", "the python= given"
        )
    env_command = os.environ.get(ENV_COMMAND, "").strip()
    env_python = os.environ.get(ENV_PYTHON, "").strip()
    if env_command and env_python:
        raise SimulatorSetupError(
            f"Both {ENV_PYTHON} and {ENV_COMMAND} are set; set only one of them (an interpreter "
            "whose environment has the simulator, or a command that runs it)."
        )
    if env_command:
        return SimulatorChoice(
            _split(env_command, ENV_COMMAND), ENV_COMMAND, f"{ENV_COMMAND}={env_command}"
        )
    if env_python:
        return SimulatorChoice(
            _module_command(_interpreter(env_python, ENV_PYTHON)),
            ENV_PYTHON,
            f"{ENV_PYTHON}={env_python}",
        )
    skipped: list[str] = []
    on_path = _ot2_sim_on_path(skipped)
    if on_path is not None:
        return SimulatorChoice(
            (on_path,),
            "PATH",
            f"ot2-sim {__version__} on PATH ({on_path})",
            skipped=tuple(skipped),
        )
    if can_run_server():
        return SimulatorChoice(
            _module_command(sys.executable),
            "this environment",
            f"this environment ({sys.prefix}) has the simulator's server",
            skipped=tuple(skipped),
        )
    skipped.append(f"this environment ({sys.prefix}): no opentrons 8 / fastapi / uvicorn")
    env_dir = simulator_env_dir()
    ready = _fresh_marker(env_dir, package_source()) is not None
    state = "set up" if ready else "to be set up"
    return SimulatorChoice(
        _module_command(str(_env_python(env_dir))),
        "cache",
        f"the simulator's own environment in {env_dir} ({state})",
        ready=ready,
        skipped=tuple(skipped),
    )


def resolve_simulator(
    *,
    python: str | None = None,
    command: str | Sequence[str] | None = None,
    progress: Progress | None = None,
) -> SimulatorChoice:
    """:func:`find_simulator`, then set up the cache environment if that is the choice and
    it is not ready yet (reporting each step to ``progress``, by default ``print``)."""
    choice = find_simulator(python=python, command=command)
    if choice.origin == "cache" and not choice.ready:
        setup_simulator(progress=progress)
        choice = SimulatorChoice(
            choice.command,
            choice.origin,
            choice.reason.replace("to be set up", "set up"),
            skipped=choice.skipped,
        )
    return choice


def simulator_interpreter(*, progress: Progress | None = None) -> str:
    """A Python interpreter whose environment can simulate (for code that must run *in* the
    simulator's environment, such as batch analysis hosts): this one when it can run the
    server, else the one :func:`resolve_simulator` chooses (set up first if need be).

    A simulator given only as a command (``OT2_SIM_COMMAND``, an ``ot2-sim`` on PATH) names
    no interpreter; the script's ``#!`` line is used when it has one, else
    :class:`SimulatorError` says to set ``OT2_SIM_PYTHON``.
    """
    if can_run_server():
        return sys.executable
    choice = resolve_simulator(progress=progress)
    if choice.command[1:] == ("-m", "ot2_notebook.simulator"):
        return choice.command[0]
    script = Path(choice.command[0])
    try:
        first = script.read_bytes()[:512].split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        first = ""
    if first.startswith("#!") and len(choice.command) == 1:
        interpreter = first[2:].strip().split()[0]
        if Path(interpreter).name.startswith("python"):
            return interpreter
    raise SimulatorError(
        f"The simulator found ({choice.reason}) is a command, not a Python interpreter, and "
        "this needs the interpreter of the simulator's environment: set OT2_SIM_PYTHON to it "
        "(or run `ot2-sim setup`)."
    )


def _split(command: str | Sequence[str], what: str) -> tuple[str, ...]:
    argv = tuple(shlex.split(command) if isinstance(command, str) else command)
    if not argv or not all(isinstance(word, str) and word for word in argv):
        raise SimulatorSetupError(
            f"{what} must name a command that runs the simulator, not {command!r}."
        )
    return argv


def _interpreter(python: str, what: str) -> str:
    found = shutil.which(python)
    if found is None:
        raise SimulatorSetupError(
            f"{what}: {python!r} is not an interpreter that can be run. Name the python of an "
            "environment that has the simulator (pip install 'ot2-notebook[sim]' there)."
        )
    return os.path.abspath(found) if os.sep in python else found


def _own_script_dirs() -> set[Path]:
    dirs = {Path(sys.executable).parent}
    with contextlib.suppress(KeyError, OSError):
        dirs.add(Path(sysconfig.get_path("scripts")))
    return {_real(d) for d in dirs}


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _ot2_sim_on_path(skipped: list[str]) -> str | None:
    """The first ``ot2-sim`` on PATH (not this environment's own) of this version that runs
    the server itself; the others go to ``skipped`` with why."""
    own = _own_script_dirs()
    seen: set[Path] = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder:
            continue
        candidate = Path(folder) / "ot2-sim"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        real = _real(candidate)
        if real in seen or _real(candidate.parent) in own:
            continue
        seen.add(real)
        about = _ask_version(str(candidate))
        if about is None:
            skipped.append(f"{candidate}: could not tell its version (an older ot2-sim?)")
        elif about.get("version") != __version__:
            skipped.append(
                f"{candidate}: ot2-notebook {about.get('version')} there, {__version__} here"
            )
        elif not about.get("server"):
            skipped.append(f"{candidate}: its environment has no simulator server")
        else:
            return str(candidate)
    return None


def _ask_version(executable: str) -> dict[str, Any] | None:
    env = {**os.environ, ENV_HANDED_OVER: ""}
    try:
        result = subprocess.run(
            [executable, "version", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    try:
        about = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return about if isinstance(about, dict) else None


def about() -> dict[str, Any]:
    """What ``ot2-sim version --json`` prints: this package's version, interpreter, and
    whether this environment runs the server itself."""
    return {"version": __version__, "python": sys.executable, "server": can_run_server()}


# -- where the package came from --------------------------------------------------------------


@dataclass(frozen=True)
class PackageSource:
    """Where this package was installed from, as install arguments for another environment.

    ``install`` installs the package itself (without its dependencies), ``requirements``
    are the simulator's (the ``sim`` extra), ``key`` names the source and ``fingerprint``
    changes whenever the installed package does.
    """

    version: str
    key: str
    install: tuple[str, ...]
    requirements: tuple[str, ...]
    fingerprint: str
    description: str


_EXTRA_SIM = re.compile(r"""\bextra\s*==\s*['"]sim['"]""")


def _extra_requirements(requires: Sequence[str], extra: str = "sim") -> tuple[str, ...]:
    """The requirements of ``extra`` among a distribution's ``Requires-Dist`` entries, with
    the extra's own marker taken off (other markers stay)."""
    out = []
    for entry in requires:
        text, _, marker = entry.partition(";")
        if not _EXTRA_SIM.search(marker):
            continue
        rest = _EXTRA_SIM.sub("", marker)
        rest = re.sub(r"^\s*and\s+|\s+and\s*$", "", rest.strip()).strip()
        out.append(f"{text.strip()}; {rest}" if rest else text.strip())
    return tuple(out)


def _path_from_url(url: str) -> str:
    return unquote(urlparse(url).path)


def _installed_distribution() -> importlib.metadata.Distribution | None:
    """This package's installed distribution: one that an installer wrote (``INSTALLER``),
    not the ``.egg-info`` a build leaves in a checkout (found first when the checkout is
    the working directory)."""
    found = list(importlib.metadata.distributions(name=DISTRIBUTION))
    installed = [dist for dist in found if dist.read_text("INSTALLER") is not None]
    return installed[0] if installed else None


def package_source() -> PackageSource:
    """Where this ``ot2-notebook`` came from (see :class:`PackageSource`)."""
    dist = _installed_distribution()
    if dist is None:
        return _source_tree()
    version = dist.version
    requirements = _extra_requirements(dist.requires or [])
    if not requirements:
        raise SimulatorSetupError(
            f"The installed {DISTRIBUTION} {version} declares no 'sim' extra: its metadata is "
            "broken. Reinstall it (pip install --force-reinstall ot2-notebook)."
        )
    record = dist.read_text("RECORD") or dist.read_text("METADATA") or version
    fingerprint = hashlib.sha256(record.encode()).hexdigest()[:16]
    direct = dist.read_text("direct_url.json")
    if not direct:
        requirement = f"{DISTRIBUTION}=={version}"
        return PackageSource(
            version,
            f"index:{version}",
            (requirement,),
            requirements,
            fingerprint,
            f"{DISTRIBUTION} {version} from the package index",
        )
    info = json.loads(direct)
    url = str(info.get("url", ""))
    subdirectory = info.get("subdirectory")
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        spec = f"{vcs.get('vcs', 'git')}+{url}@{revision}"
        if subdirectory:
            spec += f"#subdirectory={subdirectory}"
        return PackageSource(
            version,
            f"vcs:{spec}",
            (spec,),
            requirements,
            fingerprint,
            f"{DISTRIBUTION} from {spec}",
        )
    local = url.startswith("file:")
    where = _path_from_url(url) if local else url
    if local and subdirectory:
        where = str(Path(where) / subdirectory)
    if local and not Path(where).exists():
        raise SimulatorSetupError(
            f"{DISTRIBUTION} was installed from {where}, which is gone, so the simulator's "
            f"environment cannot be built from the same source. Reinstall {DISTRIBUTION}, or set "
            f"{ENV_PYTHON} to an environment that has 'ot2-notebook[sim]'."
        )
    if "dir_info" in info:
        editable = bool(info["dir_info"].get("editable"))
        install = ("-e", where) if editable else (where,)
        kind = "editable checkout" if editable else "folder"
        return PackageSource(
            version,
            f"{'editable' if editable else 'dir'}:{where}",
            install,
            requirements,
            fingerprint,
            f"{DISTRIBUTION} {version} from the {kind} {where}",
        )
    return PackageSource(
        version,
        f"archive:{where}",
        (where,),
        requirements,
        fingerprint,
        f"{DISTRIBUTION} {version} from {where}",
    )


def _source_tree() -> PackageSource:
    """Not installed at all (run from a checkout on ``sys.path``): the checkout, editable."""
    root = Path(__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    if not project.is_file():
        raise SimulatorSetupError(
            f"{DISTRIBUTION} is not installed and {root} is no checkout of it, so there is "
            f"nothing to build the simulator's environment from. Set {ENV_PYTHON} instead."
        )
    fingerprint = hashlib.sha256(project.read_bytes()).hexdigest()[:16]
    return PackageSource(
        __version__,
        f"tree:{root}",
        ("-e", f"{root}[sim]"),
        (),
        fingerprint,
        f"the {DISTRIBUTION} checkout {root} (not installed)",
    )


# -- the cache environment ---------------------------------------------------------------------


def cache_root() -> Path:
    configured = os.environ.get(ENV_CACHE_DIR, "").strip()
    if configured:
        return Path(configured).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ot2-notebook"))


def simulator_env_dir() -> Path:
    """The folder of the simulator's own environment (which may not exist yet)."""
    return cache_root() / "sim-env"


def _env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _read_marker(env_dir: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((env_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _fresh_marker(
    env_dir: Path, source: PackageSource, base_python: str | None = None
) -> dict[str, Any] | None:
    """The marker of a complete environment built from ``source``, else ``None``."""
    marker = _read_marker(env_dir)
    if marker is None or not _env_python(env_dir).exists():
        return None
    wanted = {
        "format": MARKER_FORMAT,
        "package": source.version,
        "source": source.key,
        "fingerprint": source.fingerprint,
    }
    if any(marker.get(name) != value for name, value in wanted.items()):
        return None
    if base_python is not None and marker.get("base_python") != base_python:
        return None
    return marker


def setup_simulator(
    *, force: bool = False, python: str | None = None, progress: Progress | None = None
) -> Path:
    """Set up the simulator's own environment in the cache folder, once; return its python.

    Nothing is done when it is already set up from this package's source (unless
    ``force``). ``python`` is the interpreter (3.10-3.12) to build it on; by default this
    one if it fits, else ``OT2_SIM_BASE_PYTHON``, else python3.12/3.11/3.10 on PATH or
    under pyenv. Each step is reported to ``progress`` (by default ``print``) in one line.
    """
    report = progress or _print
    source = package_source()
    env_dir = simulator_env_dir()
    base = _base_python(python) if python is not None else None
    wanted_base = base[0] if base is not None else None
    if not force and _fresh_marker(env_dir, source, wanted_base) is not None:
        return _env_python(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(env_dir.parent / "sim-env.lock", report):
        # another process may have finished it while this one waited for the lock
        if not force and _fresh_marker(env_dir, source, wanted_base) is not None:
            report(f"ot2-sim: the simulator's environment is ready ({env_dir})")
            return _env_python(env_dir)
        _build(env_dir, base or _base_python(None), source, report)
    return _env_python(env_dir)


@contextlib.contextmanager
def _exclusive(lock_path: Path, report: Progress) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (between processes), waiting if need be."""
    import fcntl

    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report(
                "ot2-sim: another process is setting up the simulator's environment; waiting "
                "for it..."
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _python_version(python: str, *, with_pip: bool = True) -> tuple[int, int, int] | None:
    """The version of interpreter ``python`` if it runs and can make a virtual environment
    (with pip in it, unless uv installs: Debian's Pythons lack ensurepip without -venv)."""
    modules = "sys, venv, ensurepip" if with_pip else "sys, venv"
    probe = f"import {modules}; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        result = subprocess.run(
            [python, "-c", probe],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", result.stdout.strip())
    if result.returncode != 0 or match is None:
        return None
    major, minor, micro = (int(part) for part in match.groups())
    return major, minor, micro


def _candidate_pythons() -> Iterator[str]:
    if sys.version_info[:2] in SIM_PYTHONS:
        yield sys.executable
    for major, minor in SIM_PYTHONS:
        found = shutil.which(f"python{major}.{minor}")
        if found:
            yield found
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for major, minor in SIM_PYTHONS:
        versions = sorted(
            pyenv.glob(f"{major}.{minor}.*/bin/python"),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")],
            reverse=True,
        )
        yield from (str(p) for p in versions)


def _base_python(requested: str | None) -> tuple[str, str]:
    """The interpreter to build the simulator's environment on, and its version."""
    with_pip = _installer() is None
    supported = ", ".join(f"{a}.{b}" for a, b in reversed(SIM_PYTHONS))
    configured = requested or os.environ.get(ENV_BASE_PYTHON, "").strip() or None
    if configured:
        version = _python_version(configured, with_pip=with_pip)
        if version is None:
            raise SimulatorSetupError(
                f"{configured!r} is not a Python that runs here with its venv module"
                + (" and ensurepip (Debian: apt install python3.X-venv)." if with_pip else ".")
            )
        if version[:2] not in SIM_PYTHONS:
            raise SimulatorSetupError(
                f"{configured} is Python {'.'.join(map(str, version))}; the simulator's "
                f"environment needs Python {supported} (opentrons 8 installs on no other)."
            )
        return configured, ".".join(map(str, version))
    for candidate in _candidate_pythons():
        version = _python_version(candidate, with_pip=with_pip)
        if version is not None and version[:2] in SIM_PYTHONS:
            return candidate, ".".join(map(str, version))
    raise SimulatorSetupError(
        f"The simulated robot needs an environment of its own on Python {supported} (opentrons "
        f"8 installs on no other), and none of these Pythons is on this machine (looked for "
        f"python3.12, python3.11 and python3.10 on PATH and under pyenv). Install one (e.g. "
        f"`uv python install 3.12`, `pyenv install 3.12`, or your system's python3.12 with its "
        f"venv module), then set {ENV_BASE_PYTHON} to it or run `ot2-sim setup --python PATH`; "
        f"or point {ENV_PYTHON} at an environment that has 'ot2-notebook[sim]'."
    )


def _installer() -> str | None:
    """The path of ``uv`` to build with, or ``None`` for venv + pip."""
    wanted = os.environ.get(ENV_INSTALLER, "").strip().lower()
    if wanted not in ("", "uv", "pip"):
        raise SimulatorSetupError(f"{ENV_INSTALLER} must be 'uv' or 'pip', not {wanted!r}.")
    if wanted == "pip":
        return None
    uv = shutil.which("uv")
    if wanted == "uv" and uv is None:
        raise SimulatorSetupError(f"{ENV_INSTALLER}=uv, but there is no uv on PATH.")
    return uv


# What pip and uv print when the package index cannot be reached...
_OFFLINE = re.compile(
    r"Failed to establish a new connection|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|Connection refused|ConnectTimeout|"
    r"Read timed out|Failed to fetch|dns error|error sending request|Could not connect|"
    r"network connectivity|offline",
    re.IGNORECASE,
)
# ... and when it has no such release
_MISSING = re.compile(
    r"No matching distribution found|Could not find a version that satisfies|"
    r"not found in the package registry|no version of|unsatisfiable",
    re.IGNORECASE,
)


def _build(env_dir: Path, base: tuple[str, str], source: PackageSource, report: Progress) -> None:
    started = time.monotonic()
    uv = _installer()
    tool = "uv" if uv else "pip"
    log_path = env_dir.parent / "sim-env-setup.log"
    report(
        f"ot2-sim: setting up the simulated robot's own environment (once; a minute or two) in "
        f"{env_dir}, on Python {base[1]}, with {tool}"
    )
    if env_dir.exists():
        shutil.rmtree(env_dir)
    python = str(_env_python(env_dir))
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env.pop(ENV_HANDED_OVER, None)
    if uv:
        env["UV_PYTHON_DOWNLOADS"] = env.get("UV_PYTHON_DOWNLOADS", "never")
        create = [uv, "venv", "--quiet", "--python", base[0], str(env_dir)]
        install = [uv, "pip", "install", "--python", python, "--compile-bytecode"]
    else:
        create = [base[0], "-m", "venv", str(env_dir)]
        install = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    steps: list[tuple[str, list[str]]] = [
        (f"creating a Python {base[1]} environment", create),
        (
            "installing opentrons 8 and the server (" + ", ".join(source.requirements) + ")"
            if source.requirements
            else "installing opentrons 8 and the server",
            [*install, *source.requirements] if source.requirements else [],
        ),
        (
            f"installing {source.description}",
            [*install, "--no-deps", *source.install]
            if source.requirements
            else [*install, *source.install],
        ),
        (
            "checking that it imports",
            [
                python,
                "-c",
                "import fastapi, uvicorn, opentrons.protocol_api, ot2_notebook.simulator.cli",
            ],
        ),
    ]
    with log_path.open("w") as log:
        for what, argv in steps:
            if not argv:
                continue
            report(f"ot2-sim: {what}...")
            log.write(f"$ {shlex.join(argv)}\n")
            log.flush()
            offset = log.tell()
            try:
                code = subprocess.run(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
                ).returncode
            except OSError as exc:
                raise SimulatorSetupError(
                    f"Setting up the simulator's environment failed while {what}: {exc}"
                ) from exc
            if code != 0:
                log.flush()
                raise _failure(what, log_path, env_dir, offset)
    marker = {
        "format": MARKER_FORMAT,
        "package": source.version,
        "source": source.key,
        "fingerprint": source.fingerprint,
        "description": source.description,
        "base_python": base[0],
        "python_version": base[1],
        "installer": tool,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - started, 1),
    }
    (env_dir / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    report(
        f"ot2-sim: the simulator's environment is ready ({env_dir}, "
        f"{time.monotonic() - started:.0f} s)"
    )


def _failure(what: str, log_path: Path, env_dir: Path, offset: int) -> SimulatorSetupError:
    """The error for a failed step, whose output starts at ``offset`` in the log."""
    with log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    tail = "\n".join(text.splitlines()[-12:])
    if _OFFLINE.search(text):
        advice = (
            "The package index could not be reached (no network?). Set the simulator up once "
            "while online: `ot2-sim setup` (it prints the folder). Without network: point "
            f"{ENV_PYTHON} at a Python environment that has 'ot2-notebook[sim]', or install "
            "from a wheel folder made elsewhere (`pip download 'ot2-notebook[sim]' -d wheels`): "
            f"`PIP_NO_INDEX=1 PIP_FIND_LINKS=wheels {ENV_INSTALLER}=pip ot2-sim setup`."
        )
    elif _MISSING.search(text):
        advice = (
            "The package index has no such release (a development version of ot2-notebook, or "
            "an index that lacks opentrons 8?). Install ot2-notebook from its folder or wheel "
            f"(pip install PATH) so that the simulator is built from the same, or set "
            f"{ENV_PYTHON} to a Python environment that has 'ot2-notebook[sim]'."
        )
    else:
        advice = (
            f"Fix what the log says and run `ot2-sim setup --force`, or set {ENV_PYTHON} to a "
            "Python environment that has 'ot2-notebook[sim]'."
        )
    return SimulatorSetupError(
        f"Could not set up the simulated robot's environment in {env_dir}: {what} failed.\n"
        f"{advice}\nLast lines of the log ({log_path}):\n{tail}"
    )
