"""The fake Realtime server: what it records, and how it serves one connection.

One :class:`FakeRealtimeServer` serves any number of connections, in memory (through
``realtime.transports.MemoryTransport(fake)``) or on loopback. Each connection is served by
:meth:`FakeRealtimeServer.handle` against a :class:`~realtime.transports.ServerSocket`, so the
behaviour lives in one place whatever carries the bytes.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from ssl import SSLContext
from typing import Any

import anyio

from realtime.transports import Close, ServerSocket

from ._headers import Headers
from ._ids import IdFactory

__all__ = ["FakeConnection", "FakeRealtimeServer"]

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class FakeConnection:
    """One client connection to the fake, as tests inspect it.

    Attributes:
        path: The request path.
        query: The query parameters.
        headers: The handshake headers (case-insensitive).
        received: The client events received on this connection, in order, as dicts.
        closed: The close code and reason once the connection ended, else ``None``.
    """

    def __init__(self, server: FakeRealtimeServer, socket: ServerSocket) -> None:
        self.path = socket.path
        self.query = dict(socket.query)
        self.headers = Headers(socket.headers)
        self.received: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._server = server
        self._socket = socket
        self._send_lock = anyio.Lock()

    @property
    def model(self) -> str | None:
        """The ``model`` query parameter, if any."""
        return self.query.get("model")

    async def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event, giving it an ``event_id`` if it has none; return it."""
        if "event_id" not in event:
            event = {"type": event["type"], "event_id": self._server.ids.event(), **event}
        await self.send_text(_COMPACT.encode(event))
        self._server.sent.append(event)
        return event

    async def send_text(self, text: str) -> None:
        """Send a raw text frame, as is."""
        if self.closed is None:
            async with self._send_lock:
                await self._socket.send_text(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason``."""
        await self._socket.close(code, reason)

    async def abort(self) -> None:
        """Drop the connection without a close frame."""
        self.closed = (1006, "aborted by the fake")
        await self._socket.abort()


class FakeRealtimeServer:
    """A fake of the OpenAI Realtime service, for tests.

    Attributes:
        received: Every client event received, across connections, in order, as dicts.
        connections: Every connection accepted, in order.
        sent: Every server event sent, across connections, in order.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.connections: list[FakeConnection] = []
        self.sent: list[dict[str, Any]] = []
        self.ids = IdFactory()

    @property
    def live_connections(self) -> list[FakeConnection]:
        """The connections that have not ended."""
        return [c for c in self.connections if c.closed is None]

    async def handle(self, socket: ServerSocket) -> None:
        """Serve one connection until it ends (the memory transport calls this)."""
        await socket.accept()
        connection = FakeConnection(self, socket)
        self.connections.append(connection)
        await connection.send_event(self._session_created(connection))
        while True:
            message = await socket.receive()
            if isinstance(message, Close):
                connection.closed = (message.code, message.reason)
                return
            await self._on_message(connection, message)

    def _session_created(self, connection: FakeConnection) -> dict[str, Any]:
        return {
            "type": "session.created",
            "session": {
                "type": "realtime",
                "object": "realtime.session",
                "id": self.ids.session(),
                "model": connection.model or "gpt-realtime",
                "output_modalities": ["audio"],
                "instructions": "",
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "truncation": "auto",
                "prompt": None,
                "expires_at": 0,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": None,
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": "alloy",
                        "speed": 1.0,
                    },
                },
                "include": None,
            },
        }

    async def _on_message(self, connection: FakeConnection, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self._error(connection, "invalid_json", "The message is not a JSON event.")
            return
        connection.received.append(event)
        self.received.append(event)

    async def _error(
        self,
        connection: FakeConnection,
        code: str,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        await connection.send_event(
            {
                "type": "error",
                "error": {
                    "type": error_type,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl: SSLContext | None = None
    ) -> AbstractAsyncContextManager[str]:
        """Serve this fake on a real socket; the context yields its ``ws://`` (or ``wss://``) URL.

        The URL ends in ``/v1/realtime``, so the official SDK reaches it with
        ``websocket_base_url=url.removesuffix("/realtime")``.
        """
        from ._serve import serve

        return serve(self.handle, host=host, port=port, ssl=ssl)

    # -- fault injection and scripting ----------------------------------------------------

    async def send_raw(self, text: str) -> None:
        """Push a raw text frame, as is, to every live connection."""
        for connection in self.live_connections:
            await connection.send_text(text)

    async def close_connections(self, code: int = 1000, reason: str = "") -> None:
        """Close every live connection with ``code`` and ``reason``."""
        for connection in self.live_connections:
            await connection.close(code, reason)

    async def drop_connections(self) -> None:
        """Drop every live connection without a close frame (clients see 1006)."""
        for connection in self.live_connections:
            await connection.abort()
