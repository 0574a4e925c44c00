"""Which files are protocols, and which files travel with each: the batch's input rules.

A path given on its own is a protocol, whatever it contains (asking for a file and getting
nothing back would hide a mistake). A folder is searched, recursively, for protocols:

* a Python file with a top-level ``def run(...)`` and a top-level ``metadata`` or
  ``requirements`` that sets ``apiLevel`` (read with ``ast``, never executed; a file that
  does not parse counts when its text has both, so that a protocol with a syntax error is
  reported rather than mistaken for a helper);
* a JSON file with a ``schemaVersion`` and a ``commands`` list (a JSON protocol; labware
  definitions also carry ``schemaVersion`` but have no ``commands``).

A protocol's support files are the *non-protocol* files of its own folder (helper modules,
CSV/JSON data, custom labware definitions), exactly what one would upload beside it; files
in subfolders belong to the protocols of those subfolders. Several protocols in one folder
share that folder's support files; a protocol is never another protocol's support file,
so shared code belongs in a helper module. Hidden files and folders, ``__pycache__`` and
compiled files are skipped. The simulator's upload bounds apply (files per protocol, bytes
per file and in all): a bundle over them is reported as that protocol's error, as the
simulated robot would refuse the upload.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ot2_notebook.names import file_name_problem
from ot2_notebook.simulator.config import Limits

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
# Byte code, and a folder's documentation (a README beside the protocols is for people; a
# protocol reads data, helpers and labware, not its folder's prose).
_SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo", ".md", ".rst"})
_RUN_TEXT = re.compile(r"^def\s+run\s*\(", re.MULTILINE)
_PROTOCOL_MARKERS = ("metadata", "requirements")
_MB = 1024 * 1024


class DiscoveryError(ValueError):
    """A path to analyse does not exist, or nothing to analyse was found."""


@dataclass(frozen=True)
class ProtocolSource:
    """One protocol found on disk and the support files that go with it."""

    #: How results name it: the path relative to the current folder when below it.
    name: str
    path: Path
    support: tuple[Path, ...]


@dataclass(frozen=True)
class Bundle:
    """A protocol's files by base name, as an upload carries them; picklable, so that it can
    travel to an executor's worker on another machine (a Dask cluster)."""

    name: str
    protocol_file: str
    files: tuple[tuple[str, bytes], ...]

    @property
    def support_files(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.files if name != self.protocol_file)


class BundleError(Exception):
    """The protocol's files cannot be uploaded as they are (too many, too big, bad names)."""


def _skipped(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name in _SKIPPED_DIRS or path.suffix.lower() in _SKIPPED_SUFFIXES


def _sets_api_level(node: ast.stmt) -> bool:
    targets: list[ast.expr]
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return False
    if not any(isinstance(t, ast.Name) and t.id in _PROTOCOL_MARKERS for t in targets):
        return False
    if isinstance(value, ast.Dict):
        return any(isinstance(k, ast.Constant) and k.value == "apiLevel" for k in value.keys)
    if isinstance(value, ast.Call):  # metadata = dict(apiLevel="2.13", ...)
        return any(keyword.arg == "apiLevel" for keyword in value.keywords)
    return False


def is_python_protocol(text: str) -> bool:
    """A top-level ``def run`` and a top-level ``metadata``/``requirements`` with
    ``apiLevel`` (see the module docstring)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return bool(_RUN_TEXT.search(text)) and "apiLevel" in text
    has_run = any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body)
    return has_run and any(_sets_api_level(n) for n in tree.body)


def is_json_protocol(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(data, dict)
        and "schemaVersion" in data
        and isinstance(data.get("commands"), list)
    )


def is_protocol(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix not in (".py", ".json"):
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return is_python_protocol(text) if suffix == ".py" else is_json_protocol(text)


def _display_name(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not _skipped(p))


def _walk(folder: Path) -> Iterable[Path]:
    """Every folder below ``folder`` (itself included), skipping hidden and cache folders."""
    for root, dirs, _files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skipped(Path(d)))
        yield Path(root)


def discover(paths: Sequence[str | os.PathLike[str]]) -> list[ProtocolSource]:
    """The protocols named or found under ``paths``, each once, in a stable order."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    protocols: dict[Path, None] = {}
    explicit: set[Path] = set()
    for item in paths:
        path = Path(item).expanduser()
        if not path.exists():
            raise DiscoveryError(
                f"{os.fspath(item)!r} does not exist; give protocol files or folders."
            )
        path = path.resolve()
        if path.is_file():
            protocols[path] = None
            explicit.add(path)
            continue
        for folder in _walk(path):
            for candidate in _files_of(folder):
                if is_protocol(candidate):
                    protocols[candidate] = None
    if not protocols:
        shown = ", ".join(repr(os.fspath(p)) for p in paths) or "(no paths)"
        raise DiscoveryError(
            f"No protocols found in {shown}: a protocol is a Python file with a run() function "
            "and metadata (or requirements) setting apiLevel, or a JSON protocol with a "
            "schemaVersion and commands."
        )
    folders: dict[Path, set[Path]] = {}
    sources = []
    for path in protocols:
        folder = path.parent
        if folder not in folders:
            folders[folder] = {p for p in _files_of(folder) if is_protocol(p)} | explicit
        support = tuple(p for p in _files_of(folder) if p != path and p not in folders[folder])
        sources.append(ProtocolSource(name=_display_name(path), path=path, support=support))
    return sources


def read_bundle(source: ProtocolSource, limits: Limits | None = None) -> Bundle:
    """The protocol's files, checked against the simulator's upload bounds (``BundleError``)."""
    limits = limits or Limits()
    paths = (source.path, *source.support)
    if len(paths) > limits.max_files:
        raise BundleError(
            f"{source.name} and the other files of its folder are {len(paths)} files; the "
            f"simulated robot accepts at most {limits.max_files} per protocol. Move files that "
            "the protocol does not need out of its folder."
        )
    files = []
    total = 0
    for path in paths:
        problem = file_name_problem(path.name, "support file")
        if problem is not None:
            raise BundleError(f"Cannot upload {path}: {problem}.")
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise BundleError(
                f"{path} is {size / _MB:.1f} MB; the simulated robot accepts files up to "
                f"{limits.max_file_bytes / _MB:.0f} MB. Move it out of the protocol's folder."
            )
        total += size
        files.append((path.name, path.read_bytes()))
    if total > limits.max_request_bytes:
        raise BundleError(
            f"{source.name} and its support files are {total / _MB:.1f} MB in all; the "
            f"simulated robot accepts uploads up to {limits.max_request_bytes / _MB:.0f} MB."
        )
    return Bundle(name=source.name, protocol_file=source.path.name, files=tuple(files))
