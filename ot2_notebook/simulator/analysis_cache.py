"""Analyses already done, kept by what they depend on, so an unchanged re-upload forks nothing.

The analysis of a bundle depends only on its files (names and bytes, and which one is the
protocol) and on the simulator's settings: the opentrons and Python versions the workers run,
this package's version (the engine that turns a simulation into an analysis), the robot
software imitated, the API level limit and the attached hardware (``--hardware``, fixed for
a simulator's life). ``analysis_key`` hashes all of them (SHA-256), so a
change to any of them is a different key: nothing stale can be found. ``AnalysisCache`` is a
thread-safe LRU bounded both in entries and in bytes (the pickled size of each result); the
least recently used entries go first, and one result larger than the byte bound is not kept.

What is kept: every analysis the protocol's own code decided, errors included (a syntax
error or a ``KeyError`` comes back the same, at once). What is not: failures of the
simulator around the protocol (a timeout, a worker that died), which depend on the machine's
load and memory at that moment. A protocol whose analysis is not a function of its files
(``random`` without a seed, the clock, files outside the bundle) gets its first analysis
again; ``ot2-sim --analysis-cache 0`` turns the cache off. Sessions never use the cache: their
loads and runs still simulate in a worker of their own.

Standard library only, no opentrons: this runs in the server process.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar

#: Default bounds: entries, and megabytes of pickled results.
DEFAULT_MAX_ENTRIES = 128
DEFAULT_MAX_MB = 64

ValueT = TypeVar("ValueT")


@dataclass(frozen=True)
class CacheSettings:
    """Everything besides the files that an analysis depends on."""

    opentrons_version: str
    python_version: str
    simulator_version: str
    robot_software: int
    max_api_level: tuple[int, int] | None
    #: the attached hardware (pipettes, modules), as ``AttachedHardware.describe()`` says it
    hardware: tuple[str, ...] = ()


def analysis_key(
    protocol_file: str, files: Iterable[tuple[str, bytes]], settings: CacheSettings
) -> str:
    """The cache key of a bundle: a SHA-256 over the settings, the protocol file's name and
    every file's name and bytes, sorted by name (the order of an upload does not matter).
    Every part is length-framed, so no two different bundles hash the same input."""
    digest = hashlib.sha256()

    def framed(part: bytes) -> None:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)

    framed(json.dumps(asdict(settings), sort_keys=True).encode())
    framed(protocol_file.encode("utf-8"))
    for name, content in sorted(files, key=lambda item: item[0]):
        framed(name.encode("utf-8"))
        framed(content)
    return digest.hexdigest()


def pickled_size(value: object) -> int:
    """What a result weighs in the cache: the length of its pickle (close to the memory its
    strings and numbers take, and cheap next to the analysis that made it)."""
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int
    max_entries: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int


class AnalysisCache(Generic[ValueT]):
    """A least-recently-used map from ``analysis_key`` to results, bounded in entries and bytes.

    ``max_entries=0`` disables it (nothing is kept, every lookup misses). ``settings`` is
    ``None`` until the simulator knows its workers' versions (``configure``): until then no
    key can be made and nothing is cached.
    """

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_MB * 1024 * 1024,
        size_of: Callable[[ValueT], int] = pickled_size,
    ) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("the analysis cache's bounds cannot be negative")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[str, tuple[ValueT, int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._settings: CacheSettings | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0 and self._settings is not None

    def configure(self, settings: CacheSettings) -> None:
        """Set what the analyses depend on; when it changes, every entry goes."""
        with self._lock:
            if settings != self._settings:
                self._entries.clear()
                self._bytes = 0
            self._settings = settings

    def key(self, protocol_file: str, files: Iterable[tuple[str, bytes]]) -> str | None:
        """The key of a bundle under the current settings (``None`` while disabled)."""
        settings = self._settings
        if settings is None or not self.enabled:
            return None
        return analysis_key(protocol_file, files, settings)

    def get(self, key: str | None) -> ValueT | None:
        """The result kept under ``key``; ``None`` (a miss) when there is none or no key."""
        with self._lock:
            found = None if key is None else self._entries.get(key)
            if key is None or found is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return found[0]

    def put(self, key: str | None, value: ValueT) -> None:
        if key is None or not self.enabled:
            return
        size = self._size_of(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _key, (_value, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
                self._evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                entries=len(self._entries),
                bytes=self._bytes,
                max_entries=self.max_entries,
                max_bytes=self.max_bytes,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
            )
