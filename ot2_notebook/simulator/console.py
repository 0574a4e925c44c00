"""``ot2-sim``: the command, in whichever environment it is installed.

``ot2-sim setup [--force] [--python PY]`` sets the simulator's own environment up now (for
offline machines and Binder), ``ot2-sim where`` says which simulator would run and why,
``ot2-sim version [--json]`` says this package's version. Everything else is the simulated
robot's own command line (``ot2_notebook.simulator.cli``): run here when this environment has
the server (opentrons, fastapi, uvicorn), otherwise handed over (exec, same process) to
``<python> -m ot2_notebook.simulator`` in the simulator's environment, so that ``ot2-sim``
works the same from a notebook's environment as from the simulator's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ot2_notebook._version import __version__
from ot2_notebook.simulator import environment

__all__ = ["main"]

_OWN = ("setup", "where", "version")

_USAGE = """\
ot2-sim setup [--force] [--python PY]   set up the simulator's own environment now
ot2-sim where                           which simulator would run, and why
ot2-sim version [--json]                this package's version
ot2-sim [OPTIONS]                       run the simulated robot (options below)
"""


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _setup(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="ot2-sim setup",
        description="Set up the simulated robot's own environment (opentrons 8, the server) "
        "in the user's cache folder now, so that the first %%ot2_connect --simulate need not.",
    )
    parser.add_argument("--force", action="store_true", help="build it anew")
    parser.add_argument(
        "--python", default=None, help="the Python 3.10-3.12 to build it on (default: found)"
    )
    args = parser.parse_args(argv)
    choice = environment.find_simulator()
    if choice.origin != "cache" and not args.force and args.python is None:
        print(
            f"Nothing to set up: {choice.reason} runs the simulator "
            "(--force sets up the cache environment anyway).\n" + choice.describe()
        )
        return 0
    python = environment.setup_simulator(force=args.force, python=args.python, progress=_err)
    print(f"The simulator's environment: {python.parent.parent}\nIts python: {python}")
    return 0


def _where(argv: Sequence[str]) -> int:
    argparse.ArgumentParser(
        prog="ot2-sim where", description="Which simulator start() would launch, and why."
    ).parse_args(argv)
    print(environment.find_simulator().describe())
    return 0


def _version(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="ot2-sim version")
    parser.add_argument("--json", action="store_true", help="machine-readable")
    args = parser.parse_args(argv)
    about = environment.about()
    if args.json:
        print(json.dumps(about))
    else:
        server = "runs the server" if about["server"] else "hands the server over"
        print(f"ot2-sim {__version__} (Python at {about['python']}; {server})")
    return 0


def _run_server(argv: list[str]) -> int:
    if environment.can_run_server():
        from ot2_notebook.simulator.cli import main as serve

        return serve(argv)
    if os.environ.get(environment.ENV_HANDED_OVER):
        _err(
            "ot2-sim: this environment has no simulator server, and it was already handed over "
            f"once ({environment.ENV_PYTHON} or {environment.ENV_COMMAND} names an environment "
            "without 'ot2-notebook[sim]'?)."
        )
        return 2
    helping = any(word in ("-h", "--help") for word in argv)
    if helping:
        print(_USAGE)
    try:
        choice = environment.find_simulator()
        if helping and not choice.ready:
            print("(the server's own options show once its environment is set up: ot2-sim setup)")
            return 0
        choice = environment.resolve_simulator(progress=_err)
    except environment.SimulatorError as exc:
        _err(f"ot2-sim: {exc}")
        return 2
    os.environ[environment.ENV_HANDED_OVER] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(choice.command[0], [*choice.command, *argv])
    except OSError as exc:
        _err(f"ot2-sim: could not run {choice.command[0]}: {exc}\n{choice.describe()}")
        return 2
    return 0  # not reached: exec replaced this process


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["--version"]:
        return _version(words[1:])
    if words and words[0] in _OWN:
        try:
            return {"setup": _setup, "where": _where, "version": _version}[words[0]](words[1:])
        except environment.SimulatorError as exc:
            _err(f"ot2-sim: {exc}")
            return 2
    if words[:1] in (["-h"], ["--help"]) and environment.can_run_server():
        print(_USAGE)
    return _run_server(words)


if __name__ == "__main__":
    sys.exit(main())
