"""Transports: the I/O edge of a connection.

``MemoryTransport`` connects in memory to a server object (the fake Realtime server) for
deterministic tests. ``HttpxWsTransport`` (the default) speaks WebSocket over the network with
httpx-ws; ``WebsocketsTransport`` (asyncio only) uses the ``websockets`` library. Both are
imported on first use so that the core never imports httpx or websockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import Channel, Close, Received, Transport
from ._memory import MemoryHandler, MemoryServer, MemoryTransport
from ._server import ServerSocket

if TYPE_CHECKING:
    from ._httpx_ws import HttpxWsTransport
    from ._websockets import WebsocketsTransport

__all__ = [
    "Channel",
    "Close",
    "HttpxWsTransport",
    "MemoryHandler",
    "MemoryServer",
    "MemoryTransport",
    "Received",
    "ServerSocket",
    "Transport",
    "WebsocketsTransport",
]


def __getattr__(name: str) -> Any:
    if name == "HttpxWsTransport":
        from ._httpx_ws import HttpxWsTransport

        return HttpxWsTransport
    if name == "WebsocketsTransport":
        from ._websockets import WebsocketsTransport

        return WebsocketsTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
