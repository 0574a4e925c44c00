"""Packing a protocol bundle into one self-contained protocol file, for robot software 5+.

Robot software 4.x stores a protocol with its support files in one folder, which is the
protocol's working directory and on its ``sys.path``. Robot software 5 and later
(``/protocols`` + ``/runs``) treat every uploaded ``.py`` file as a candidate main protocol,
accept only ``.csv``/``.txt`` as data files (and labware definitions), and run the protocol
with the robot-server's own working directory: ``helpers.py`` and ``config.json`` cannot
travel beside it, and ``import helpers`` / ``open("config.json")`` would fail even if they did.

So a bundle is packed: the protocol file keeps its name (``basic_transfer.py``) and its text,
unchanged, after two inserted lines, and ends with one more::

    line 1   # ot2-notebook: protocol 'basic_transfer', helpers.py and ... embedded; ...
    line 2   __ot2nb_boot__ = {}; exec(compile(BOOT, ...)); ...install(globals(), {FILES})
    line 3+  the protocol, line for line (its line N is line N + 2)
    last     __ot2nb_end__()

``BOOT`` is :mod:`ot2_notebook.client.packed_boot` (what it does on the robot, and what it
touches, is described there); ``FILES`` maps every support file's name to its text (or its
bytes, when it is not UTF-8), so embedded modules import and embedded files open as they
do on a 4.x robot. Labware definitions are also sent as files of their own (the robot loads
custom labware from them), and so are ``.csv`` and ``.txt`` files (the robot stores them as
the protocol's data files, so they show on it; a Python protocol cannot open those, which
is why they are embedded too). A protocol whose first statements are ``from __future__`` imports
gets the two lines after those imports instead (nothing may precede them).

What the robot reports comes back in terms of the bundle: the upload's ``key`` (a short JSON
text, :class:`BundleKey`) records the protocol's name, its support files and where the lines
went in, so a line of the packed file maps back to the protocol's own line
(:meth:`BundleKey.protocol_line`) by any client, later; embedded modules are compiled under
their own names, so their lines need no mapping.

Standard library only; no HTTP here.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from ot2_notebook.names import protocol_id_for

__all__ = [
    "BOOT_LINES",
    "BundleKey",
    "PackedProtocol",
    "boot_source",
    "is_labware_definition",
    "pack",
]

#: Lines inserted before the protocol's own text (the comment and the start-up line).
BOOT_LINES: Final = 2
_KEY_TAG: Final = "ot2nb"
#: Data files robot software 5+ accepts beside a protocol.
_DATA_SUFFIXES: Final = (".csv", ".txt")
_KEY_VERSION: Final = 1


def boot_source() -> str:
    """The text of :mod:`ot2_notebook.client.packed_boot`, as it is embedded."""
    return (
        resources.files("ot2_notebook.client")
        .joinpath("packed_boot.py")
        .read_text(encoding="utf-8")
    )


@dataclass(frozen=True)
class BundleKey:
    """What a packed upload's ``key`` says: the protocol's ``name`` (its id for this
    client), its support ``files`` (embedded, in upload order), and the ``lines`` inserted
    before the protocol's line ``at`` (``lines`` is 0 for a protocol sent as it is)."""

    name: str
    files: tuple[str, ...] = ()
    at: int = 1
    lines: int = 0

    def to_text(self) -> str:
        data: dict[str, Any] = {_KEY_TAG: _KEY_VERSION, "name": self.name}
        if self.files:
            data["files"] = list(self.files)
        if self.lines:
            data["lines"] = self.lines
            if self.at != 1:
                data["at"] = self.at
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def parse(cls, text: Any) -> BundleKey | None:
        """The key of an upload made by this client; ``None`` for any other key (the
        Opentrons App's, none)."""
        if not isinstance(text, str) or not text.startswith("{"):
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get(_KEY_TAG) != _KEY_VERSION:
            return None
        name = data.get("name")
        files = data.get("files", [])
        at, lines = data.get("at", 1), data.get("lines", 0)
        if not isinstance(name, str) or not name or not isinstance(files, list):
            return None
        if not all(isinstance(f, str) for f in files):
            return None
        if not (isinstance(at, int) and isinstance(lines, int) and at >= 1 and lines >= 0):
            return None
        return cls(name, tuple(files), at, lines)

    def protocol_line(self, packed_line: int | None) -> int | None:
        """The protocol's own line for a line of the packed file (``None`` for the lines
        the packing added, or no line)."""
        if packed_line is None or packed_line < 1:
            return None
        if packed_line < self.at:
            return packed_line
        if packed_line < self.at + self.lines:
            return None
        return packed_line - self.lines


@dataclass(frozen=True)
class PackedProtocol:
    """An upload for robot software 5+: ``main`` (the packed protocol file), ``extra`` (the
    files sent beside it: labware definitions, CSV and text files), and the ``key``."""

    name: str
    main: tuple[str, bytes]
    extra: tuple[tuple[str, bytes], ...]
    key: BundleKey

    @property
    def files(self) -> tuple[tuple[str, bytes], ...]:
        return (self.main, *self.extra)


def is_labware_definition(name: str, content: bytes) -> bool:
    """Whether a support file is a labware definition (robot software 5+ takes those as
    files of their own, role ``labware``)."""
    if not name.lower().endswith(".json"):
        return False
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        isinstance(data, dict)
        and isinstance(data.get("wells"), dict)
        and isinstance(data.get("ordering"), list)
        and isinstance(data.get("parameters"), dict)
        and "loadName" in data["parameters"]
    )


def _future_end(text: str) -> int:
    """The last line of the protocol's leading docstring and ``from __future__`` imports
    when there are such imports (the inserted lines must follow them), else 0."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return 0
    end = 0
    for index, node in enumerate(tree.body):
        if (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            end = node.end_lineno or node.lineno
            continue
        break
    return end


def _embedded_value(content: bytes) -> str | bytes:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content


def pack(protocol: tuple[str, bytes], support: Sequence[tuple[str, bytes]]) -> PackedProtocol:
    """Pack ``protocol`` (file name, content) and its ``support`` files (see the module
    doc). A protocol without support files is sent as it is (with its key)."""
    file_name, content = protocol
    name = protocol_id_for(file_name)
    support = list(support)
    names = tuple(n for n, _ in support)
    beside = tuple(
        (n, c)
        for n, c in support
        if is_labware_definition(n, c) or n.lower().endswith(_DATA_SUFFIXES)
    )
    if not support or not file_name.endswith(".py"):
        return PackedProtocol(name, protocol, tuple(support), BundleKey(name, names))
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        # Not text: leave it to the robot to say so (the same words as any other upload).
        return PackedProtocol(name, protocol, beside, BundleKey(name, names))
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    after = _future_end(text)
    files = {n: _embedded_value(c) for n, c in support}
    embedded = ", ".join(names)
    header = (
        f"# ot2-notebook: protocol {name!r} with {embedded} embedded, for robot software 5 and "
        f"later (this line, the next and the last were added to the protocol's text)\n"
    )
    boot = (
        f"__ot2nb_boot__ = {{}}; exec(compile({boot_source()!r}, '<ot2-notebook bundle>', "
        f"'exec'), __ot2nb_boot__); __ot2nb_boot__['install'](globals(), {files!r}); "
        "del __ot2nb_boot__\n"
    )
    packed = [*lines[:after], header, boot, *lines[after:], "__ot2nb_end__()\n"]
    key = BundleKey(name, names, at=after + 1, lines=BOOT_LINES)
    return PackedProtocol(name, (file_name, "".join(packed).encode("utf-8")), beside, key)
