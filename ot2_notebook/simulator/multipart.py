"""The file name a multipart upload carries, as the user chose it.

Browsers, curl and ``requests`` (urllib3 2) follow the WHATWG HTML standard for a file name in
``multipart/form-data``: they send ``"``, CR and LF as ``%22``, ``%0D`` and ``%0A`` and leave
everything else as it is. Starlette hands the name over still escaped, so ``x\\n.py`` would be
stored as ``x%0A.py``: a protocol whose id, ``x%0A``, no URL can name (``/protocols/x%0A`` is
``x`` and a newline) and which therefore cannot be read or deleted. Undoing exactly those three
escapes gives the name the user sent; the repository's rules (:mod:`ot2_notebook.names`) then
accept or refuse it, before anything is written.

Standard library only, like the rest of what the routes share.
"""

from __future__ import annotations

import re

__all__ = ["uploaded_file_name"]

_ESCAPES = {"%0A": "\n", "%0D": "\r", "%22": '"'}
_ESCAPED = re.compile("|".join(_ESCAPES))


def uploaded_file_name(filename: str | None) -> str:
    """The ``filename`` parameter of a multipart part with the standard's escapes undone
    (``""`` when the part has none)."""
    return _ESCAPED.sub(lambda match: _ESCAPES[match.group()], filename or "")
