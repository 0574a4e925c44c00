"""``/notifications/subscribe?topic=T&topic=U``: the notification feed over a websocket.

As on the real robot, the route ignores ``Opentrons-Version``, and a request without a
topic is refused (closed with code 1008 before the handshake completes, which the client
sees as HTTP 403). Foreign ``Host`` and ``Origin`` headers are refused before this route
runs (``api/local_only.py``).
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, WebSocket
from starlette.status import WS_1008_POLICY_VIOLATION

from ot2_notebook.simulator.api.dependencies import Hub

router = APIRouter(tags=["Notifications"])


@router.websocket("/notifications/subscribe")
async def subscribe(websocket: WebSocket, hub: Hub) -> None:
    topics = [t for t in websocket.query_params.getlist("topic") if t]
    if not topics:
        await websocket.close(code=WS_1008_POLICY_VIOLATION, reason="a topic is required")
        return
    await websocket.accept()
    subscriber = hub.subscribe(topics)

    async def forward() -> None:
        while True:
            frame = await subscriber.queue.get()
            if frame is None:  # server shutting down, or this client fell too far behind
                await websocket.close(code=1013 if subscriber.dropped else 1001)
                return
            await websocket.send_text(json.dumps(frame))

    async def until_disconnect() -> None:
        # clients send nothing; reading is how a closed connection is noticed
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.ensure_future(forward()), asyncio.ensure_future(until_disconnect())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        hub.unsubscribe(subscriber)
