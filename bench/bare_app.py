"""The ceiling: a bare ASGI app that answers every GET with the same 302, nothing else."""

from __future__ import annotations

from typing import Any

_HEADERS = [
    (b"location", b"https://shop.example.com/products/mug?utm_source=instagram&tclid=x"),
    (b"cache-control", b"private, no-store"),
    (b"content-length", b"0"),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 302, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b""})
