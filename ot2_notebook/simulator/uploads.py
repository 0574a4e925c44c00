"""Uploading a protocol and changing one: check, reserve, write, analyse, then publish or release.

The HTTP routes hand over the files they have read; this is the one place that puts the
protocol store's steps and the analysis together, in order, so that an upload failing at
any step leaves nothing behind (its reservation released, its files removed) and a change
is analysed before anyone sees it. An analysis is looked up in the analysis cache first
(``analysis_cache.py``): a bundle analysed before under the same settings is answered from it,
without a worker. Blocking (it writes files and may wait for an analysis): call it from a
thread, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ot2_notebook.simulator.analysis import Analysis, Analyzer
from ot2_notebook.simulator.analysis_cache import AnalysisCache
from ot2_notebook.simulator.errors import ResourceNotFound
from ot2_notebook.simulator.protocol_store import ProtocolStore, StoredProtocol, UploadedFile


class ProtocolUploads:
    def __init__(
        self,
        store: ProtocolStore,
        analyzer: Analyzer,
        cache: AnalysisCache[Analysis] | None = None,
    ) -> None:
        self._store = store
        self._analyzer = analyzer
        self._cache: AnalysisCache[Analysis] = (
            cache if cache is not None else AnalysisCache(max_entries=0)
        )

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
            files = [protocol, *support]
            directory = self._store.write_files(protocol_id, files)
            key = self._cache.key(protocol.name, ((f.name, f.content) for f in files))
            analysis = self._analyse(key, directory, protocol.name)
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
                key = self._cache.key(changed.protocol_file, self._store.read_files(changed))
            except FileNotFoundError:  # deleted while we were writing
                raise ResourceNotFound("protocol", protocol_id) from None
            analysis = self._analyse(key, changed.directory, changed.protocol_file)
            return self._store.update(replace(changed, analysis=analysis))
        finally:
            self._store.end_change(protocol_id)

    def _analyse(self, key: str | None, directory: Path, protocol_file: str) -> Analysis:
        """The cached analysis of this bundle, or a new one in a worker (kept unless the
        simulator failed around the protocol: a timeout, a worker that died)."""
        found = self._cache.get(key)
        if found is not None:
            return found
        analysis = self._analyzer.analyse(directory, protocol_file)
        if analysis.cacheable:
            self._cache.put(key, analysis)
        return analysis
