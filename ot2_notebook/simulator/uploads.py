"""Uploading a protocol and changing one: check, reserve, write, analyse, then publish or release.

The HTTP routes hand over the files they have read; this is the one place that puts the
protocol store's steps and the analysis together, in order, so that an upload failing at
any step leaves nothing behind (its reservation released, its files removed) and a change
is analysed before anyone sees it. Blocking (it writes files and waits for an analysis):
call it from a thread, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ot2_notebook.simulator.analysis import Analyzer
from ot2_notebook.simulator.errors import ResourceNotFound
from ot2_notebook.simulator.protocol_store import ProtocolStore, StoredProtocol, UploadedFile


class ProtocolUploads:
    def __init__(self, store: ProtocolStore, analyzer: Analyzer) -> None:
        self._store = store
        self._analyzer = analyzer

    @property
    def max_file_bytes(self) -> int:
        """The largest file accepted; a route reads one byte more, to know a file is too big
        without reading all of it."""
        return self._store.limits.max_file_bytes

    def create(self, protocol: UploadedFile, support: Sequence[UploadedFile]) -> StoredProtocol:
        """Store and analyse a new protocol; it becomes visible once analysed.

        Refused (nothing stored) when a name or size breaks the rules (422, 413), the id
        exists or the upload limit is reached (403). Analysis errors are not refusals: the
        protocol is stored with them, as on the robot.
        """
        protocol_id = self._store.check_upload(protocol, support)
        self._store.reserve(protocol_id)
        try:
            directory = self._store.write_files(protocol_id, [protocol, *support])
            analysis = self._analyzer.analyse(directory, protocol.name)
        except BaseException:
            self._store.release(protocol_id)
            raise
        return self._store.publish(protocol_id, protocol.name, [s.name for s in support], analysis)

    def add_file(self, protocol_id: str, upload: UploadedFile) -> StoredProtocol:
        """Add or replace one file of a protocol (the protocol file itself when the names
        match), then analyse it again. One change at a time per protocol (403 otherwise)."""
        stored = self._store.begin_change(protocol_id)
        try:
            try:
                changed = self._store.put_file(stored, upload)
            except FileNotFoundError:  # deleted while we were writing
                raise ResourceNotFound("protocol", protocol_id) from None
            analysis = self._analyzer.analyse(changed.directory, changed.protocol_file)
            return self._store.update(replace(changed, analysis=analysis))
        finally:
            self._store.end_change(protocol_id)
