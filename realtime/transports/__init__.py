"""Transports: the I/O edge of a connection.

``MemoryTransport`` connects in memory to a server object (the fake Realtime server) for
deterministic tests. ``HttpxWsTransport`` (the default) speaks WebSocket over the network with
httpx-ws; it is imported on first use so that the core never imports httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import Channel, Close, Received, Transport
from ._memory import MemoryHandler, MemoryServer, MemoryTransport
from ._server import ServerSocket

if TYPE_CHECKING:
    from ._httpx_ws import HttpxWsTransport

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
]


def __getattr__(name: str) -> Any:
    if name == "HttpxWsTransport":
        from ._httpx_ws import HttpxWsTransport

        return HttpxWsTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
