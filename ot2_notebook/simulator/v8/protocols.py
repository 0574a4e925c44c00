"""Uploaded protocols of the software-8 robot: their files, identity and lifetime.

robot-server 8.1.0's rules (recordings 01, 04, 05): an upload is any number of ``files``; a
worker reads them with opentrons' ``ProtocolReader`` (422 ``ProtocolFilesInvalid`` or
``ProtocolRobotTypeMismatch`` when they are not an OT-2 protocol); the same files again are
the same protocol (200, same id, no new analysis); at most ``max_protocols`` (5) protocols
that no run uses are kept, the oldest going silently; a protocol a run refers to cannot be
deleted (409). Files live in ``<data dir>/protocols/<id>/`` under names checked by
``ot2_notebook.names``; nothing is written elsewhere.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ot2_notebook import names
from ot2_notebook.simulator.config import Limits
from ot2_notebook.simulator.v8.analyses import AnalysisManager, AnalysisRecord
from ot2_notebook.simulator.v8.clock import new_id, utc_now
from ot2_notebook.simulator.v8.errors import ApiError, InvalidRequest, protocol_not_found
from ot2_notebook.simulator.workers.pool import WorkerDied, WorkerTimeout

#: robot-server 8's limit of protocols no run refers to.
DEFAULT_MAX_PROTOCOLS = 5


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes


@dataclass(frozen=True)
class StoredProtocol:
    id: str
    created_at: str
    file_names: tuple[str, ...]
    info: dict[str, Any]  # files (with roles), protocolType, robotType, metadata
    key: str | None
    kind: str
    directory: Path
    content_hash: str

    def resource(self, summaries: list[dict[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "createdAt": self.created_at,
            "files": self.info["files"],
            "protocolType": self.info["protocolType"],
            "robotType": self.info["robotType"],
            "metadata": self.info["metadata"],
            "analyses": [],
            "analysisSummaries": summaries,
        }
        if self.key is not None:
            data["key"] = self.key
        data["protocolKind"] = self.kind
        return data


def content_hash(files: Sequence[UploadedFile]) -> str:
    """Identical uploads (same names and contents, in any order) hash alike."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: unicodedata.normalize("NFC", f.name)):
        digest.update(hashlib.sha256(item.name.encode("utf-8")).digest())
        digest.update(hashlib.sha256(item.content).digest())
    return digest.hexdigest()


def files_invalid(detail: str) -> ApiError:
    return ApiError(422, "ProtocolFilesInvalid", "Protocol File(s) Invalid", detail)


class ProtocolManager:
    def __init__(
        self,
        root: Path,
        analyses: AnalysisManager,
        *,
        max_protocols: int,
        limits: Limits,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.analyses = analyses
        self.max_protocols = max_protocols
        self.limits = limits
        #: run ids referring to a protocol (set by the run manager)
        self.used_by: Callable[[str], list[str]] = lambda protocol_id: []
        self._protocols: dict[str, StoredProtocol] = {}
        self._lock = threading.Lock()
        self._upload_locks: dict[str, threading.Lock] = {}

    # -- reading ---------------------------------------------------------------------------------
    def stored(self) -> list[StoredProtocol]:
        with self._lock:
            return list(self._protocols.values())

    def get(self, protocol_id: str, *, quoted: bool = True) -> StoredProtocol:
        with self._lock:
            stored = self._protocols.get(protocol_id)
        if stored is None:
            raise protocol_not_found(protocol_id, quoted=quoted)
        return stored

    def has(self, protocol_id: str) -> bool:
        with self._lock:
            return protocol_id in self._protocols

    def resource(self, stored: StoredProtocol) -> dict[str, Any]:
        return stored.resource(self.analyses.summaries(stored.id))

    def links(self, protocol_id: str) -> dict[str, Any]:
        return {
            "referencingRuns": [
                {"id": run_id, "href": f"/runs/{run_id}"} for run_id in self.used_by(protocol_id)
            ]
        }

    # -- uploading -------------------------------------------------------------------------------
    def check_files(self, files: Sequence[UploadedFile]) -> None:
        if len(files) > self.limits.max_files:
            raise InvalidRequest.at(
                f"The upload has {len(files)} files; the simulated robot accepts at most "
                f"{self.limits.max_files}.",
                pointer="/files",
            )
        seen: set[str] = set()
        for item in files:
            problem = names.file_name_problem(item.name, "file")
            if problem is not None:
                raise InvalidRequest.at(f"Cannot upload: {problem}.", pointer="/files")
            if item.name in seen:
                raise InvalidRequest.at(
                    f"Two files in the upload are named {item.name!r}; every file needs its "
                    "own name.",
                    pointer="/files",
                )
            seen.add(item.name)
            if len(item.content) > self.limits.max_file_bytes:
                mb = self.limits.max_file_bytes / (1024 * 1024)
                raise ApiError(
                    413,
                    "PayloadTooLarge",
                    "Payload Too Large",
                    f"The file {item.name!r} is {len(item.content)} bytes; the simulated robot "
                    f"accepts files up to {mb:.0f} MB.",
                )

    def upload(
        self,
        files: Sequence[UploadedFile],
        *,
        key: str | None,
        kind: str,
        run_time_parameter_values: dict[str, Any],
    ) -> tuple[int, dict[str, Any]]:
        """Store and start analysing an upload (blocking). Returns (status, protocol)."""
        self.check_files(files)
        digest = content_hash(files)
        with self._lock:
            upload_lock = self._upload_locks.setdefault(digest, threading.Lock())
        with upload_lock:  # two identical uploads at once are still one protocol
            existing = self._find(digest)
            if existing is not None:
                return 200, self._reuse(existing, run_time_parameter_values)
            return 201, self._create(files, digest, key, kind, run_time_parameter_values)

    def _find(self, digest: str) -> StoredProtocol | None:
        with self._lock:
            for stored in self._protocols.values():
                if stored.content_hash == digest:
                    return stored
        return None

    def _reuse(self, stored: StoredProtocol, values: dict[str, Any]) -> dict[str, Any]:
        latest = self.analyses.latest(stored.id)
        summaries = self.analyses.summaries(stored.id)
        if latest is None or latest.run_time_parameter_values != values:
            record = self.analyses.analyse(
                stored.id, str(stored.directory), stored.file_names, values
            )
            summaries = [*summaries, record.new_summary()]
        return stored.resource(summaries)

    def _create(
        self,
        files: Sequence[UploadedFile],
        digest: str,
        key: str | None,
        kind: str,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        protocol_id = new_id()
        directory = self.root / protocol_id
        directory.mkdir()
        try:
            for item in files:
                (directory / names.plain_name(item.name)).write_bytes(item.content)
            file_names = tuple(item.name for item in files)
            job = self.analyses.new_job(str(directory), file_names, values)
            try:
                read = job.read()
            except (WorkerTimeout, WorkerDied) as exc:
                job.close()
                raise files_invalid(
                    "The simulated robot could not read these files: reading them "
                    + ("took too long." if isinstance(exc, WorkerTimeout) else f"failed ({exc}).")
                ) from None
            if read.error is not None:
                job.close()
                if read.error_kind == "robot-type-mismatch":
                    raise ApiError(
                        422,
                        "ProtocolRobotTypeMismatch",
                        "Protocol For Different Robot Type",
                        read.error,
                    )
                raise files_invalid(read.error)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        assert read.info is not None
        stored = StoredProtocol(
            id=protocol_id,
            created_at=utc_now(),
            file_names=file_names,
            info=read.info,
            key=key,
            kind=kind,
            directory=directory,
            content_hash=digest,
        )
        self._make_room(kind)
        with self._lock:
            self._protocols[protocol_id] = stored
        record: AnalysisRecord = self.analyses.begin(protocol_id, job)
        return stored.resource([record.new_summary()])

    def _make_room(self, kind: str) -> None:
        """Delete the oldest protocols no run refers to, leaving room for one more."""
        with self._lock:
            unused = [
                p.id for p in self._protocols.values() if p.kind == kind and not self.used_by(p.id)
            ]
        while len(unused) >= self.max_protocols:
            self._delete(unused.pop(0))

    # -- analyses --------------------------------------------------------------------------------
    def reanalyse(
        self, protocol_id: str, *, force: bool, values: dict[str, Any]
    ) -> tuple[int, list[dict[str, Any]]]:
        """``POST /protocols/{id}/analyses``: a new analysis if forced or the run-time
        parameter values changed (blocking). Returns (status, summaries)."""
        stored = self.get(protocol_id, quoted=False)
        latest = self.analyses.latest(protocol_id)
        summaries = self.analyses.summaries(protocol_id)
        if force or latest is None or latest.run_time_parameter_values != values:
            record = self.analyses.analyse(
                protocol_id, str(stored.directory), stored.file_names, values
            )
            return 201, [*summaries, record.new_summary()]
        return 200, summaries

    # -- deleting --------------------------------------------------------------------------------
    def delete(self, protocol_id: str) -> None:
        self.get(protocol_id)
        if self.used_by(protocol_id):
            raise ApiError(
                409,
                "ProtocolUsedByRun",
                "Protocol Used by Run",
                f"Protocol {protocol_id} is used by a run and cannot be deleted.",
            )
        self._delete(protocol_id)

    def _delete(self, protocol_id: str) -> None:
        with self._lock:
            stored = self._protocols.pop(protocol_id, None)
        if stored is not None:
            shutil.rmtree(stored.directory, ignore_errors=True)
            self.analyses.forget(protocol_id)

    def clear(self) -> None:
        with self._lock:
            ids = list(self._protocols)
        for protocol_id in ids:
            self._delete(protocol_id)
