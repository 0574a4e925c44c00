"""A batch as JUnit XML, the test report format GitHub Actions and GitLab CI show.

One ``<testsuites>`` holding one ``<testsuite>``; one ``<testcase>`` per protocol with
``name`` (the protocol file), ``classname`` (its folder, dotted: GitLab shows it as the
suite), ``file`` (the protocol's path, as GitLab and the GitHub JUnit report actions read
it) and ``time`` (s). A protocol whose analysis reported errors gets a ``<failure>`` whose
``message`` is ``path:line: Type: description`` of the first error and whose text lists
every error that way; the analysis machinery failing gets an ``<error>`` instead (nothing
is known about the protocol). The testcase then also carries ``line`` (when the first
error is in the protocol file itself). ``<system-out>`` holds what a protocol printed,
passing or not. Counts (``tests``, ``failures``, ``errors``, ``skipped``) and ``time``
are on both suite elements, ``timestamp`` and ``hostname`` on the suite. Characters XML
1.0 cannot hold (control characters a protocol may print) are replaced.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any
from xml.etree import ElementTree

SUITE_NAME = "ot2-sim analyse"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _where(entry: Mapping[str, Any], protocol: str) -> str:
    file_name = entry.get("fileName")
    path = (PurePosixPath(protocol).parent / str(file_name)).as_posix() if file_name else protocol
    line = entry.get("lineNumber")
    return f"{path}:{line}" if line else path


def _describe(entry: Mapping[str, Any], protocol: str) -> str:
    kind = entry.get("exceptionType") or entry.get("type")
    return f"{_where(entry, protocol)}: {kind}: {entry.get('description')}"


def _timestamp(started_at: Any) -> str:
    """The JUnit schema's timestamp: ISO 8601 without a time zone (here UTC)."""
    try:
        moment = datetime.fromisoformat(str(started_at))
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _classname(protocol: str) -> str:
    folder = PurePosixPath(protocol).parent
    parts = [part for part in folder.parts if part not in ("/", ".", "..")]
    return ".".join(parts) or "protocols"


def _testcase(record: Mapping[str, Any]) -> ElementTree.Element:
    protocol = str(record["protocol"])
    seconds = record.get("analysisSeconds") or 0.0
    case = ElementTree.Element(
        "testcase",
        {
            "name": _text(record.get("protocolFile") or PurePosixPath(protocol).name),
            "classname": _text(_classname(protocol)),
            "file": _text(protocol),
            "time": f"{float(seconds):.3f}",
        },
    )
    if not record["ok"]:
        _add_problem(case, record, protocol)
    if record.get("output"):
        ElementTree.SubElement(case, "system-out").text = _text(record["output"])
    return case


def _add_problem(case: ElementTree.Element, record: Mapping[str, Any], protocol: str) -> None:
    errors = list(record.get("errors") or [])
    first = errors[0] if errors else {"type": "Unknown", "description": "no error reported"}
    tag = "error" if record.get("outcome") == "error" else "failure"
    problem = ElementTree.SubElement(
        case,
        tag,
        {
            "message": _text(_describe(first, protocol)),
            "type": _text(first.get("exceptionType") or first.get("type")),
        },
    )
    problem.text = _text("\n".join(_describe(entry, protocol) for entry in errors))
    error = record.get("error") or {}
    if error.get("line") and error.get("file") == protocol:
        case.set("line", str(error["line"]))


def junit_xml(document: Mapping[str, Any]) -> str:
    """JUnit XML for a batch's JSON document (``BatchResult.to_json()``)."""
    records = list(document["protocols"])
    summary = document["summary"]
    meta = document.get("meta") or {}
    counts = {
        "tests": str(len(records)),
        "failures": str(summary.get("failed", 0)),
        "errors": str(summary.get("error", 0)),
        "skipped": "0",
        "time": f"{float(summary.get('seconds') or 0):.3f}",
    }
    suites = ElementTree.Element("testsuites", {"name": SUITE_NAME, **counts})
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        {
            "name": SUITE_NAME,
            **counts,
            "timestamp": _timestamp(meta.get("startedAt")),
            "hostname": _text(socket.gethostname()),
        },
    )
    properties = ElementTree.SubElement(suite, "properties")
    for key in ("ot2_notebook", "opentrons", "python", "executor", "analysisTimeout"):
        if meta.get(key) is not None:
            ElementTree.SubElement(properties, "property", {"name": key, "value": _text(meta[key])})
    for record in records:
        suite.append(_testcase(record))
    ElementTree.indent(suites)
    body = ElementTree.tostring(suites, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
