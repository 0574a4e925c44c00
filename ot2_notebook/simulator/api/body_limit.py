"""The bound on a request's body, for the apps of both robot softwares: a huge upload is
refused with 413 before it is spooled to disk, in the app's own error envelope."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(max_bytes: int) -> str:
    """The refusal's message: what the bound is, and what to do."""
    mb = max_bytes / (1024 * 1024)
    return (
        f"The request body is larger than the simulated robot accepts ({mb:.0f} MB). "
        "Upload smaller files, or start ot2-sim with a larger --max-upload-mb."
    )


class BodySizeLimit:
    """Pure ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the bound is refused before anything is read. A body
    sent without one (chunked) is counted while the app reads it: once past the bound the app
    reads a disconnect, so it keeps nothing of the upload, whatever it answers to that is
    dropped, and the refusal goes out instead (with ``Connection: close``: the rest of the body
    is never read). ``error_body(message)`` is the refusal's JSON in the app's envelope; the
    version headers come from the middleware outside this one.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, error_body: Callable[[str], bytes]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = self.error_body(too_large(self.max_bytes))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
