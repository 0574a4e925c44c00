"""The notebook's bundle: which cells and files make up each protocol upload.

A notebook builds its uploads cell by cell:

* ``%%ot2_protocol NAME`` makes its body protocol ``NAME`` (file ``NAME.py``), replacing
  whatever ``NAME`` was;
* ``%%ot2_protocol NAME --part`` appends its body to ``NAME`` instead, so one protocol can be
  written over several cells with prose between them; parts are joined in the order they
  were first run (notebook order when the notebook is run top to bottom);
* ``%%ot2_support FILENAME`` makes its body support file ``FILENAME``, which travels with
  every protocol of the notebook; ``--support PATH`` adds a file from disk to one protocol;
* a cell whose body is a Protocol Designer JSON protocol (``--json``, or a body that starts
  with ``{``) is uploaded as ``NAME.json``;
* ``%ot2_upload PATH`` makes a protocol file on disk (Python or JSON) a protocol of the
  notebook under its id (the file name without its suffix): it is read again at every
  upload, so ``%ot2_run`` uploads it again when the file changed.

Re-running a cell replaces what that cell contributed, never duplicates it: every
contribution is keyed by the cell (the cell id Jupyter sends, or a fallback), and a cell
whose magic changed (another protocol name, part or not, support) first withdraws its old
contribution. Plain Python: no IPython and no HTTP here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ot2_notebook.magics.cellmap import CellMap, CellRef, Location, join_cells, line_of

__all__ = [
    "BuiltBundle",
    "BundledFile",
    "Change",
    "DiskProtocol",
    "NotebookBundle",
    "Part",
    "SupportCell",
    "UnreadableFile",
]


@dataclass(frozen=True)
class Part:
    """One cell's contribution to a protocol file, and the disk files it asked for."""

    cell: CellRef
    text: str
    support_paths: tuple[Path, ...] = ()
    #: The protocol file's suffix: ``py``, or ``json`` for a JSON protocol cell.
    suffix: str = "py"


@dataclass(frozen=True)
class DiskProtocol:
    """A protocol file on disk that the notebook uploads (``%ot2_upload PATH``)."""

    path: Path
    support_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SupportCell:
    """A support file written in a cell (``%%ot2_support FILENAME``)."""

    filename: str
    cell: CellRef
    text: str


@dataclass(frozen=True)
class Change:
    """What running one cell changed in the bundle, for the cell's one-line summary.

    ``index``/``count``: the cell's place among the protocol's parts; ``replaced``: the earlier
    run of the same cell (or, for support files, the cell that defined the file before);
    ``dropped``: parts that a non-``--part`` cell replaced; ``moved_from``: what the cell
    contributed before its magic changed.
    """

    target: str
    index: int = 0
    count: int = 1
    replaced: CellRef | None = None
    dropped: tuple[CellRef, ...] = ()
    moved_from: str | None = None


@dataclass(frozen=True)
class UnreadableFile:
    """A ``--support`` file that could not be read when the bundle was built."""

    path: Path
    reason: str


@dataclass(frozen=True)
class BundledFile:
    """One file of an upload: its name and bytes, and where its lines came from (cells, via
    ``cellmap``, or a file on disk at ``path``)."""

    name: str
    content: bytes
    role: str  # "protocol" or "support"
    cellmap: CellMap | None = None
    path: Path | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def locate(self, line: int | None) -> Location:
        """Where line ``line`` of this file is in the notebook (or on disk)."""
        quoted = line_of(self.text, line)
        if self.cellmap is not None and line is not None:
            found = self.cellmap.locate(line)
            if found is not None:
                index, cell, body_line = found
                if quoted is None:  # past the end: quote the cell's last line
                    segment = self.cellmap.segments[index]
                    quoted = line_of(self.text, segment.first_line + body_line - 1)
                return Location(
                    file=self.name,
                    file_line=line,
                    cell=cell,
                    cell_line=cell.cell_line(body_line),
                    text=quoted,
                    part=(index, len(self.cellmap.segments)) if self.role == "protocol" else None,
                    role=self.role,
                )
        if self.cellmap is not None and len(self.cellmap.segments) == 1:
            cell = self.cellmap.segments[0].cell  # no line, but only one cell to name
            return Location(file=self.name, cell=cell, role=self.role)
        return Location(
            file=self.name,
            file_line=line,
            text=quoted,
            path=str(self.path) if self.path is not None else None,
            role=self.role,
            cells=self.cells(),
        )

    def cells(self) -> tuple[CellRef, ...]:
        return tuple(s.cell for s in self.cellmap.segments) if self.cellmap else ()


@dataclass(frozen=True)
class BuiltBundle:
    """Everything one upload of protocol ``name`` sends, frozen at build time (so errors that
    come back later are mapped against exactly what was sent)."""

    name: str
    protocol: BundledFile
    support: tuple[BundledFile, ...] = ()
    unreadable: tuple[UnreadableFile, ...] = ()

    @property
    def files(self) -> tuple[BundledFile, ...]:
        return (self.protocol, *self.support)

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files)

    def file(self, name: str | None) -> BundledFile | None:
        """The bundled file called ``name`` (``None``: the protocol file)."""
        if name is None:
            return self.protocol
        return next((f for f in self.files if f.name == name), None)

    def locate(self, file_name: str | None, line: int | None) -> Location:
        """Map ``(file, line)`` as the robot or the compiler reports it to the notebook.

        Robots that send no file name mean the protocol file.
        """
        bundled = self.file(file_name)
        if bundled is None:
            return Location(file=file_name or self.protocol.name, file_line=line)
        return bundled.locate(line)

    def fingerprint(self) -> str:
        """A digest of every file's name and content: equal bundles upload the same thing."""
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f.name.encode() + b"\0" + f.role.encode() + b"\0")
            digest.update(hashlib.sha256(f.content).digest())
        return digest.hexdigest()

    def upload_files(self) -> tuple[tuple[str, bytes], list[tuple[str, bytes]]]:
        """``(protocol, support)`` as in-memory ``(name, bytes)`` pairs for ``RobotClient``."""
        return (self.protocol.name, self.protocol.content), [
            (f.name, f.content) for f in self.support
        ]

    def cells(self) -> tuple[CellRef, ...]:
        """Every notebook cell that went into this upload."""
        return tuple(c for f in self.files for c in f.cells())


@dataclass
class NotebookBundle:
    """The protocols and support files the notebook's cells have defined so far."""

    #: protocol name -> its parts, in file order
    protocols: dict[str, list[Part]] = field(default_factory=dict)
    #: support file name -> the cell that defines it (in order of first definition)
    support: dict[str, SupportCell] = field(default_factory=dict)
    #: cell key -> ("protocol" | "support", name): what each cell contributes now
    _owner: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: protocol name -> the file on disk it is read from (``%ot2_upload PATH``)
    disk: dict[str, DiskProtocol] = field(default_factory=dict)

    def copy(self) -> NotebookBundle:
        """An independent copy: a cell's change is tried on a copy and kept only if the
        cell's checks pass, so a failing cell leaves the bundle as it was."""
        return NotebookBundle(
            {name: list(parts) for name, parts in self.protocols.items()},
            dict(self.support),
            dict(self._owner),
            dict(self.disk),
        )

    # -- files on disk -------------------------------------------------------------------

    def set_disk_protocol(
        self, name: str, path: Path, support_paths: Sequence[Path] = ()
    ) -> tuple[CellRef, ...]:
        """``%ot2_upload PATH``: protocol ``name`` is read from ``path``; returns the cells
        whose protocol of that name it replaces."""
        replaced = tuple(p.cell for p in self.protocols.pop(name, []))
        for cell in replaced:
            self._owner.pop(cell.key, None)
        self.disk[name] = DiskProtocol(path, tuple(support_paths))
        return replaced

    # -- cells ---------------------------------------------------------------------------

    def set_protocol(
        self,
        name: str,
        cell: CellRef,
        text: str,
        support_paths: Sequence[Path] = (),
        *,
        suffix: str = "py",
    ) -> Change:
        """``%%ot2_protocol NAME``: the cell is the whole protocol ``NAME`` (``suffix``
        ``json`` for a JSON protocol)."""
        moved = self._withdraw(cell.key, keep=("protocol", name))
        self.disk.pop(name, None)
        previous = self.protocols.get(name, [])
        replaced = next((p.cell for p in previous if p.cell.key == cell.key), None)
        dropped = tuple(p.cell for p in previous if p.cell.key != cell.key)
        self.protocols[name] = [Part(cell, text, tuple(support_paths), suffix)]
        self._owner[cell.key] = ("protocol", name)
        for gone in dropped:
            self._owner.pop(gone.key, None)
        return Change(name, 0, 1, replaced=replaced, dropped=dropped, moved_from=moved)

    def add_part(
        self, name: str, cell: CellRef, text: str, support_paths: Sequence[Path] = ()
    ) -> Change:
        """``%%ot2_protocol NAME --part``: replace this cell's part of ``NAME`` in place, or
        append it as a new part."""
        moved = self._withdraw(cell.key, keep=("protocol", name))
        self.disk.pop(name, None)
        parts = self.protocols.setdefault(name, [])
        if any(p.suffix != "py" for p in parts):  # a JSON protocol has no parts: start over
            for old in parts:
                self._owner.pop(old.cell.key, None)
            parts.clear()
        part = Part(cell, text, tuple(support_paths))
        for index, existing in enumerate(parts):
            if existing.cell.key == cell.key:
                parts[index] = part
                return Change(name, index, len(parts), replaced=existing.cell, moved_from=moved)
        parts.append(part)
        self._owner[cell.key] = ("protocol", name)
        return Change(name, len(parts) - 1, len(parts), moved_from=moved)

    def set_support(self, filename: str, cell: CellRef, text: str) -> Change:
        """``%%ot2_support FILENAME``: the cell is support file ``FILENAME``; the last cell run
        for a name wins."""
        moved = self._withdraw(cell.key, keep=("support", filename))
        previous = self.support.get(filename)
        if previous is not None and previous.cell.key != cell.key:
            self._owner.pop(previous.cell.key, None)
        self.support[filename] = SupportCell(filename, cell, text)
        self._owner[cell.key] = ("support", filename)
        return Change(
            filename,
            replaced=previous.cell if previous is not None else None,
            moved_from=moved,
        )

    def _withdraw(self, key: str, keep: tuple[str, str]) -> str | None:
        """Remove what cell ``key`` contributed, unless it is ``keep`` (replaced in place by
        the caller). Returns a description of what was withdrawn."""
        owner = self._owner.get(key)
        if owner is None or owner == keep:
            return None
        kind, name = owner
        del self._owner[key]
        if kind == "protocol":
            parts = [p for p in self.protocols.get(name, []) if p.cell.key != key]
            if parts:
                self.protocols[name] = parts
            else:
                self.protocols.pop(name, None)
            return f"protocol {name!r}"
        self.support.pop(name, None)
        return f"support file {name!r}"

    # -- queries -------------------------------------------------------------------------

    def names(self) -> list[str]:
        return [*self.protocols, *(n for n in self.disk if n not in self.protocols)]

    def __contains__(self, name: object) -> bool:
        return name in self.protocols or name in self.disk

    def is_disk(self, name: str) -> bool:
        """Whether protocol ``name`` is read from a file on disk."""
        return name in self.disk and name not in self.protocols

    def suffix(self, name: str) -> str:
        """The protocol file's suffix (``py`` or ``json``)."""
        if self.is_disk(name):
            return self.disk[name].path.suffix.lstrip(".").lower() or "py"
        parts = self.protocols.get(name)
        return parts[0].suffix if parts else "py"

    def parts(self, name: str) -> list[Part]:
        return list(self.protocols.get(name, []))

    def support_paths(self, name: str) -> list[Path]:
        """The disk files protocol ``name`` asked for, each once, in the order asked."""
        seen: set[Path] = set()
        paths: list[Path] = []
        asked: list[Path] = []
        if self.is_disk(name):
            asked = list(self.disk[name].support_paths)
        for part in self.protocols.get(name, []):
            asked.extend(part.support_paths)
        for path in asked:
            resolved = path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                paths.append(path)
        return paths

    def build(self, name: str) -> BuiltBundle:
        """Freeze protocol ``name``'s upload: its cells joined into ``NAME.py``, every support
        cell, and its ``--support`` files read from disk now (a file that cannot be read is
        listed in ``unreadable``, for the checks to report)."""
        if name not in self:
            raise KeyError(name)
        unreadable: list[UnreadableFile] = []
        if self.is_disk(name):
            path = self.disk[name].path
            try:
                content = path.read_bytes()
            except OSError as exc:
                unreadable.append(UnreadableFile(path, exc.strerror or str(exc)))
                content = b""
            protocol = BundledFile(path.name, content, "protocol", path=path)
        else:
            text, cellmap = join_cells([(p.cell, p.text) for p in self.protocols[name]])
            file_name = f"{name}.{self.suffix(name)}"
            protocol = BundledFile(file_name, text.encode("utf-8"), "protocol", cellmap=cellmap)
        support: list[BundledFile] = []
        for item in self.support.values():
            body, single = join_cells([(item.cell, item.text)])
            support.append(
                BundledFile(item.filename, body.encode("utf-8"), "support", cellmap=single)
            )
        for path in self.support_paths(name):
            try:
                content = path.read_bytes()
            except OSError as exc:
                unreadable.append(UnreadableFile(path, exc.strerror or str(exc)))
                continue
            support.append(BundledFile(path.name, content, "support", path=path))
        return BuiltBundle(name, protocol, tuple(support), tuple(unreadable))

    def cells_of(self, name: str) -> Iterable[CellRef]:
        return (p.cell for p in self.protocols.get(name, []))
