"""What a batch found: one ``ProtocolResult`` per protocol, and the ``BatchResult`` of all.

A protocol's result is ``passed`` (analysed without errors), ``failed`` (its analysis
reported errors: its code raised, hung, exited or ran out of memory; or its files could
not be uploaded as they are) or ``error`` (the analysis machinery failed, so nothing is
known about the protocol: a dead host, a lost executor worker). ``analysis`` holds the
fields of the protocol resource ``POST /protocols`` answers with (``requiredEquipment``,
``metadata``, ``errors``, ``estimatedDuration``), equal to what ot2-sim reports for the
same files. The same data as JSON (``to_json``), a DataFrame (``table.py``) and JUnit XML
(``junit.py``).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ot2_notebook._version import __version__
from ot2_notebook.simulator.batch import table
from ot2_notebook.simulator.batch.discovery import ProtocolSource
from ot2_notebook.simulator.batch.task import ANALYSED, AnalysisOptions

if TYPE_CHECKING:
    import pandas

PASSED = "passed"
FAILED = "failed"
ERROR = "error"

#: Version of the JSON document's shape.
JSON_FORMAT = 1


@dataclass(frozen=True)
class ProtocolResult:
    protocol: str
    path: str
    protocol_file: str
    support_files: tuple[str, ...]
    outcome: str
    #: The protocol resource's analysis fields, or ``None`` when it was not analysed.
    analysis: dict[str, Any] | None
    steps: int = 0
    analysis_seconds: float | None = None
    output: str = ""
    worker: str | None = None
    #: Why it was not analysed (``outcome`` ``error``, or a refused upload).
    problem: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == PASSED

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The analysis errors in the robot's shape (or one entry saying why there are none)."""
        if self.analysis is not None:
            return list(self.analysis["errors"])
        return [self.problem] if self.problem else []

    @property
    def estimated_duration(self) -> float | None:
        return None if self.analysis is None else self.analysis.get("estimatedDuration")

    @property
    def error(self) -> dict[str, Any] | None:
        """The first error: ``type`` (the Python exception when there is one), ``message``,
        ``file`` (the protocol's or a support module's path, as ``protocol`` is shown) and
        ``line``."""
        if not self.errors:
            return None
        first = self.errors[0]
        file_name = first.get("fileName")
        shown = None
        if file_name:
            shown = (Path(self.protocol).parent / str(file_name)).as_posix()
        return {
            "type": first.get("exceptionType") or first.get("type"),
            "message": first.get("description"),
            "file": shown,
            "line": first.get("lineNumber"),
        }

    @classmethod
    def _base(cls, source: ProtocolSource) -> dict[str, Any]:
        return {
            "protocol": source.name,
            "path": str(source.path),
            "protocol_file": source.path.name,
            "support_files": tuple(p.name for p in source.support),
        }

    @classmethod
    def from_outcome(cls, source: ProtocolSource, outcome: Mapping[str, Any]) -> ProtocolResult:
        """From what ``task.analyse_bundle`` returned."""
        if outcome.get("kind") != ANALYSED:
            return cls.not_analysed(
                source,
                ERROR,
                "AnalysisHostError",
                str(outcome.get("message")),
                worker=outcome.get("worker"),
            )
        analysis = dict(outcome["analysis"])
        return cls(
            **cls._base(source),
            outcome=FAILED if analysis["errors"] else PASSED,
            analysis=analysis,
            steps=int(outcome.get("steps") or 0),
            analysis_seconds=float(outcome["seconds"]),
            output=str(outcome.get("output") or ""),
            worker=outcome.get("worker"),
        )

    @classmethod
    def not_analysed(
        cls,
        source: ProtocolSource,
        outcome: str,
        error_type: str,
        description: str,
        worker: str | None = None,
    ) -> ProtocolResult:
        return cls(
            **cls._base(source),
            outcome=outcome,
            analysis=None,
            worker=worker,
            problem={"type": error_type, "description": description},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "path": self.path,
            "protocolFile": self.protocol_file,
            "supportFiles": list(self.support_files),
            "ok": self.ok,
            "outcome": self.outcome,
            "error": self.error,
            "errors": self.errors,
            "estimatedDuration": self.estimated_duration,
            "steps": self.steps,
            "analysisSeconds": (
                None if self.analysis_seconds is None else round(self.analysis_seconds, 4)
            ),
            "worker": self.worker,
            "analysis": self.analysis,
            "output": self.output,
        }


@dataclass(frozen=True)
class BatchResult:
    results: tuple[ProtocolResult, ...]
    seconds: float
    executor: str
    options: AnalysisOptions
    started_at: str
    opentrons: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[ProtocolResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, protocol: str) -> ProtocolResult:
        """The result of the protocol shown as ``protocol`` (or with that path)."""
        for result in self.results:
            if protocol in (result.protocol, result.path):
                return result
        raise KeyError(protocol)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def failed(self) -> list[ProtocolResult]:
        """Every protocol that did not pass (failures and errors)."""
        return [result for result in self.results if not result.ok]

    @property
    def exit_code(self) -> int:
        """What ``ot2-sim analyse`` exits with: 0 when every protocol passed, else 1."""
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "format": JSON_FORMAT,
            "tool": "ot2-sim analyse",
            "summary": {
                "protocols": len(self.results),
                PASSED: self.count(PASSED),
                FAILED: self.count(FAILED),
                ERROR: self.count(ERROR),
                "seconds": round(self.seconds, 3),
            },
            "meta": {
                "ot2_notebook": __version__,
                "opentrons": self.opentrons,
                "python": platform.python_version(),
                "executor": self.executor,
                "startedAt": self.started_at,
                "cwd": os.getcwd(),
                "analysisTimeout": self.options.timeout,
                "maxApiLevel": (
                    None
                    if self.options.max_api_level is None
                    else "{}.{}".format(*self.options.max_api_level)
                ),
                "memoryLimitMb": self.options.memory_limit_mb,
                **self.meta,
            },
            "protocols": [result.to_json() for result in self.results],
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def to_dataframe(self) -> pandas.DataFrame:
        return table.dataframe(result.to_json() for result in self.results)

    def to_junit(self) -> str:
        from ot2_notebook.simulator.batch.junit import junit_xml

        return junit_xml(self.to_json())

    def write_junit(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.to_junit(), encoding="utf-8")

    def summary(self) -> str:
        """Every protocol that did not pass, with where and why, then the counts."""
        lines = []
        for result in self.failed:
            error = result.error or {}
            where = error.get("file") or result.protocol
            if error.get("line"):
                where = f"{where}:{error['line']}"
            lines.append(f"{result.outcome.upper()} {result.protocol}")
            lines.append(f"  {where}: {error.get('type')}: {error.get('message')}")
        lines.append(
            f"{len(self.results)} protocols: {self.count(PASSED)} passed, "
            f"{self.count(FAILED)} failed, {self.count(ERROR)} errors "
            f"in {self.seconds:.1f} s ({self.executor})"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # a notebook shows the table
        return str(self.to_dataframe().to_html())
