"""Uploaded protocols and their files on disk, with the robot's rules and the simulator's bounds.

Every file lives in ``<data dir>/protocols/<id>/<name>``. Names are plain base names
(``ot2_notebook/names.py``, the rules every layer shares), checked here, next to the code
that writes: nothing can be written outside the data folder. A protocol becomes visible only
once its analysis is done (the real robot answers the upload after analysing), but its id
counts against the upload limit from the moment it is reserved, so concurrent uploads cannot
exceed the limit. The steps of an upload are put together by ``uploads.py``.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ot2_notebook import names
from ot2_notebook.simulator.analysis import Analysis
from ot2_notebook.simulator.config import Limits
from ot2_notebook.simulator.errors import (
    ActionForbidden,
    InvalidRequest,
    PayloadTooLarge,
    ResourceExists,
    ResourceNotFound,
)


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes


@dataclass(frozen=True)
class StoredProtocol:
    id: str
    protocol_file: str
    support_files: tuple[str, ...]
    directory: Path
    created_at: datetime
    last_modified_at: datetime
    analysis: Analysis

    def to_json(self) -> dict[str, Any]:
        """The protocol resource, shaped as robot software 4.7 sends it (recording 01),
        plus ``estimatedDuration`` (seconds)."""
        return {
            "id": self.id,
            "protocolFile": {"basename": self.protocol_file},
            "supportFiles": [{"basename": name} for name in self.support_files],
            "lastModifiedAt": self.last_modified_at.isoformat(),
            "createdAt": self.created_at.isoformat(),
            "requiredEquipment": self.analysis.equipment,
            "metadata": self.analysis.metadata,
            "errors": self.analysis.errors,
            "estimatedDuration": self.analysis.estimated_duration,
        }


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def check_file_name(name: str | None, what: str) -> str:
    """A plain base name, or a 422 that says what is wrong with it."""
    try:
        return names.plain_name(name, what)
    except ValueError as exc:
        raise InvalidRequest.at(str(exc)) from None


def check_protocol_text(upload: UploadedFile) -> None:
    """The protocol file must be text: the robot executes it as Python source."""
    content = upload.content
    if b"\x00" in content:
        raise InvalidRequest.at(
            f"The protocol file {upload.name!r} is binary (it contains NUL bytes); "
            "upload a Python protocol (.py) as protocolFile.",
            pointer="/protocolFile",
        )
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest.at(
            f"The protocol file {upload.name!r} is not UTF-8 text (byte {exc.start} cannot be "
            "decoded); save it as UTF-8 and upload it again.",
            pointer="/protocolFile",
        ) from None


@dataclass
class _Registry:
    protocols: dict[str, StoredProtocol] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)
    busy: set[str] = field(default_factory=set)


class ProtocolStore:
    def __init__(self, root: Path, *, max_protocols: int, limits: Limits) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_protocols = max_protocols
        self.limits = limits
        self._registry = _Registry()
        self._lock = threading.Lock()
        # deleted folders are renamed at once and removed here, one at a time, in order
        self._removals = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="ot2-sim-removal"
        )

    # -- reading -------------------------------------------------------------------------
    def list(self) -> list[StoredProtocol]:
        with self._lock:
            return sorted(self._registry.protocols.values(), key=lambda p: p.created_at)

    def get(self, protocol_id: str) -> StoredProtocol:
        with self._lock:
            stored = self._registry.protocols.get(protocol_id)
        if stored is None:
            raise ResourceNotFound("protocol", protocol_id)
        return stored

    # -- checks --------------------------------------------------------------------------
    def check_upload(self, protocol: UploadedFile, support: Sequence[UploadedFile]) -> str:
        """Validate an upload without touching the disk; returns the protocol id."""
        check_file_name(protocol.name, "protocol file")
        for item in support:
            check_file_name(item.name, "support file")
        count = 1 + len(support)
        if count > self.limits.max_files:
            raise InvalidRequest.at(
                f"The upload has {count} files; the simulated robot accepts at most "
                f"{self.limits.max_files} per protocol.",
                pointer="/supportFiles",
            )
        seen: set[str] = set()
        for item in (protocol, *support):
            if item.name in seen:
                raise InvalidRequest.at(
                    f"Two files in the upload are named {item.name!r}; every file needs its "
                    "own name.",
                    pointer="/supportFiles",
                )
            seen.add(item.name)
            self._check_size(item)
        check_protocol_text(protocol)
        return names.protocol_id_for(protocol.name)

    def _check_size(self, item: UploadedFile) -> None:
        if len(item.content) > self.limits.max_file_bytes:
            mb = self.limits.max_file_bytes / (1024 * 1024)
            raise PayloadTooLarge(
                f"The file {item.name!r} is {len(item.content)} bytes; the simulated robot "
                f"accepts files up to {mb:.0f} MB."
            )

    # -- creating ------------------------------------------------------------------------
    def reserve(self, protocol_id: str) -> None:
        """Claim an id (403 if it exists or the upload limit is reached)."""
        with self._lock:
            registry = self._registry
            if protocol_id in registry.protocols or protocol_id in registry.reserved:
                raise ResourceExists(
                    f"A protocol with id '{protocol_id}' already exists. Delete it first "
                    f"(DELETE /protocols/{protocol_id}) or add files to it with PATCH."
                )
            if len(registry.protocols) + len(registry.reserved) >= self.max_protocols:
                raise ActionForbidden(f"Upload limit of {self.max_protocols} has been reached.")
            registry.reserved.add(protocol_id)

    def release(self, protocol_id: str) -> None:
        with self._lock:
            self._registry.reserved.discard(protocol_id)
        shutil.rmtree(self.root / protocol_id, ignore_errors=True)

    def write_files(self, protocol_id: str, files: Sequence[UploadedFile]) -> Path:
        """Write a reserved protocol's files (all or nothing) and return its folder."""
        final = self._folder(protocol_id)
        staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=self.root))
        try:
            for item in files:
                (staging / check_file_name(item.name, "file")).write_bytes(item.content)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return final

    def _folder(self, protocol_id: str) -> Path:
        folder = (self.root / protocol_id).resolve()
        if folder.parent != self.root.resolve() or protocol_id in ("", ".", ".."):
            raise InvalidRequest.at(
                f"'{protocol_id}' cannot be a protocol id; name the protocol file plainly, "
                "e.g. 'my_protocol.py'.",
                pointer="/protocolFile",
            )
        return folder

    def publish(
        self, protocol_id: str, protocol_file: str, support: Sequence[str], analysis: Analysis
    ) -> StoredProtocol:
        now = _utcnow()
        stored = StoredProtocol(
            id=protocol_id,
            protocol_file=protocol_file,
            support_files=tuple(support),
            directory=self._folder(protocol_id),
            created_at=now,
            last_modified_at=now,
            analysis=analysis,
        )
        with self._lock:
            self._registry.reserved.discard(protocol_id)
            self._registry.protocols[protocol_id] = stored
        return stored

    # -- changing ------------------------------------------------------------------------
    def begin_change(self, protocol_id: str) -> StoredProtocol:
        """Mark a protocol busy for a PATCH; one change at a time per protocol."""
        with self._lock:
            stored = self._registry.protocols.get(protocol_id)
            if stored is None:
                raise ResourceNotFound("protocol", protocol_id)
            if protocol_id in self._registry.busy:
                raise ActionForbidden(
                    f"Protocol '{protocol_id}' is being changed by another request; "
                    "try again when it finishes."
                )
            self._registry.busy.add(protocol_id)
            return stored

    def end_change(self, protocol_id: str) -> None:
        with self._lock:
            self._registry.busy.discard(protocol_id)

    def put_file(self, stored: StoredProtocol, upload: UploadedFile) -> StoredProtocol:
        """Add or replace one file (atomically); the protocol file itself if names match."""
        name = check_file_name(upload.name, "file")
        self._check_size(upload)
        is_protocol = name == stored.protocol_file
        if is_protocol:
            check_protocol_text(upload)
        support = list(stored.support_files)
        if not is_protocol and name not in support:
            if 1 + len(support) + 1 > self.limits.max_files:
                raise InvalidRequest.at(
                    f"Protocol '{stored.id}' already has {1 + len(support)} files; the "
                    f"simulated robot accepts at most {self.limits.max_files}.",
                    pointer="/file",
                )
            support.append(name)
        fd, temp = tempfile.mkstemp(prefix=".patch-", dir=stored.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(upload.content)
            os.replace(temp, stored.directory / name)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return replace(stored, support_files=tuple(support), last_modified_at=_utcnow())

    def read_files(self, stored: StoredProtocol) -> tuple[tuple[str, bytes], ...]:
        """Every file of a protocol as (name, bytes): what its analysis depends on."""
        every = (stored.protocol_file, *stored.support_files)
        return tuple((name, (stored.directory / name).read_bytes()) for name in every)

    def update(self, stored: StoredProtocol) -> StoredProtocol:
        with self._lock:
            if stored.id in self._registry.protocols:
                self._registry.protocols[stored.id] = stored
        return stored

    def delete(self, protocol_id: str) -> StoredProtocol:
        """Forget a protocol and take its folder out of the store now; its files go later.

        The folder is renamed to a hidden name in the store (``.deleted-...``, which no
        protocol id can take: ids never start with '.'), so the id can be uploaded again at
        once, and its files are removed on the store's removal thread: a DELETE answers in
        the same time whatever the size of the bundle, without blocking the event loop.
        """
        with self._lock:
            stored = self._registry.protocols.pop(protocol_id, None)
        if stored is None:
            raise ResourceNotFound("protocol", protocol_id)
        self._discard(stored.directory)
        return stored

    def _discard(self, folder: Path) -> None:
        doomed = self.root / f".deleted-{uuid.uuid4().hex}"
        try:
            os.rename(folder, doomed)
        except FileNotFoundError:
            return
        except OSError:  # cannot rename (not expected in our own folder): remove it now, so
            # that a new upload of the same id never meets a removal still under way
            shutil.rmtree(folder, ignore_errors=True)
            return
        self._removals.submit(shutil.rmtree, doomed, ignore_errors=True)

    def removals_done(self) -> None:
        """Wait until every folder deleted so far is gone from the disk."""
        self._removals.submit(lambda: None).result()

    def clear(self) -> None:
        """Forget every protocol and remove every folder, waiting until they are gone."""
        with self._lock:
            ids = list(self._registry.protocols)
            self._registry.protocols.clear()
        for protocol_id in ids:
            shutil.rmtree(self.root / protocol_id, ignore_errors=True)
        self.removals_done()
