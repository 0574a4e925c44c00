"""Run ``ot2-sim analyse`` in the simulator's environment and read what it reports.

The kernel side never imports opentrons, so a batch runs as a child process: the
simulator's interpreter with ``-m ot2_notebook.simulator analyse ... --progress json``.
Its stdout carries one JSON event per finished protocol (``simulator/batch/progress.py``),
its stderr the summary (or why it could not run), and the results arrive as the JSON file
``--json`` writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any


class BatchError(RuntimeError):
    """``ot2-sim analyse`` could not run the batch (bad paths, no protocols, no simulator)."""


def simulator_python() -> str:
    """The interpreter of the simulator's environment, as ``%ot2_connect --simulate`` finds it
    (``OT2_SIM_PYTHON``, ..., the cache environment, set up the first time)."""
    from ot2_notebook.simulator.environment import simulator_interpreter

    return simulator_interpreter()


def build_command(
    python: str,
    paths: Sequence[str | os.PathLike[str]],
    json_path: Path,
    *,
    jobs: int | None,
    dask: str | None,
    timeout: float,
    max_api_level: str | None,
    memory_limit_mb: int | None,
    junit: str | os.PathLike[str] | None,
) -> list[str]:
    command = [python, "-m", "ot2_notebook.simulator", "analyse"]
    command += [os.fspath(path) for path in paths]
    command += ["--progress", "json", "--json", str(json_path), "--analysis-timeout", str(timeout)]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    if dask is not None:
        command += ["--dask", dask]
    if max_api_level is not None:
        command += ["--max-api-level", max_api_level]
    if memory_limit_mb is not None:
        command += ["--memory-limit-mb", str(memory_limit_mb)]
    if junit is not None:
        command += ["--junit", os.fspath(junit)]
    return command


def _drain(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def run_batch(
    command_for: Callable[[Path], list[str]],
    on_event: Callable[[dict[str, Any]], None],
    json_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run the command (built for the JSON file's path), pass each progress event to
    ``on_event``, and return the batch's JSON document; ``BatchError`` if it could not run."""
    with tempfile.TemporaryDirectory(prefix="ot2-batch-") as scratch:
        target = Path(json_path) if json_path is not None else Path(scratch) / "batch.json"
        command = command_for(target.resolve())
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise BatchError(
                f"Cannot start the simulator's Python {command[0]!r}: {exc}. Set OT2_SIM_PYTHON "
                "to the python of an environment with ot2-notebook[sim] installed."
            ) from None
        assert process.stdout is not None and process.stderr is not None
        errors: list[str] = []
        reader = threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True)
        reader.start()
        try:
            for line in process.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # not ours (a stray print); the results come from the JSON file
                if isinstance(event, dict):
                    on_event(event)
            process.wait()
        except BaseException:  # an interrupted cell stops the batch, and all it started
            _stop(process)
            raise
        finally:
            reader.join(timeout=10)
        said = "".join(errors).strip()
        if process.returncode not in (0, 1) or not target.exists():
            raise BatchError(
                f"ot2-sim analyse exited with code {process.returncode}: {said or 'no message'}"
            )
        document: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
        document["summaryText"] = said
        return document


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGINT first, so that the batch closes its pool or Dask cluster; then kill."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
