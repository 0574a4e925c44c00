"""The files of an upload: each a path on disk or an in-memory ``(file name, content)``
pair, read and turned into a multipart part, its name checked before anything is sent.

Names follow the repository's one rule (:mod:`ot2_notebook.names`): a name the robot would
refuse, or that could escape the protocol's folder (``a/b.py``, ``../x.py``, ``.hidden.py``),
raises ``ValueError`` here with the same words the simulated robot uses, and nothing is
sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Union

from ot2_notebook.names import plain_name

__all__ = ["FileInput", "Part", "multipart_part", "read_file", "upload_parts"]

#: A file to upload: a path on disk, or an in-memory ``(file name, content)`` pair (so that
#: notebook cells can be uploaded without temporary files).
FileInput = Union[str, "os.PathLike[str]", tuple[str, bytes | str]]

#: One multipart part: ``(field, (file name, content, content type))``.
Part = tuple[str, tuple[str, bytes, str]]

_CONTENT_TYPES = {
    ".py": "text/x-python",
    ".json": "application/json",
    ".csv": "text/csv",
    ".txt": "text/plain",
}


def read_file(item: FileInput, role: str) -> tuple[str, bytes]:
    """``(name, content)`` of a path or an in-memory pair; ``role`` (``"protocol file"``,
    ``"support file"``) names it in errors. A bad name raises ``ValueError``."""
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[0], str):
            raise TypeError(f"{role} must be a path or a (file name, content) pair, not {item!r}")
        name, content = item
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)):
            raise TypeError(f"{role} {name!r}: content must be bytes or str, not {type(content)}")
        return plain_name(name, role), bytes(content)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        name = plain_name(path.name, role)
        return name, path.read_bytes()
    raise TypeError(f"{role} must be a path or a (file name, content) pair, not {item!r}")


def multipart_part(field: str, name: str, content: bytes) -> Part:
    content_type = _CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    return (field, (name, content, content_type))


def upload_parts(protocol: FileInput, support: Iterable[FileInput]) -> tuple[str, list[Part]]:
    """The protocol file's name and the parts of ``POST /protocols`` (``protocolFile``, then
    ``supportFiles``). Two files with one name raise ``ValueError``: the robot keeps one
    file per name."""
    name, content = read_file(protocol, "protocol file")
    parts = [multipart_part("protocolFile", name, content)]
    seen = {name}
    for item in support:
        support_name, support_content = read_file(item, "support file")
        if support_name in seen:
            raise ValueError(
                f"Two files named {support_name!r} in one upload: the robot keeps one file "
                "per name; rename or drop one of them."
            )
        seen.add(support_name)
        parts.append(multipart_part("supportFiles", support_name, support_content))
    return name, parts
