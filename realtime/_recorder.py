"""Recording sessions as JSON lines, for replay by ``FakeRealtimeServer.replay``.

One line per frame::

    {"direction": "client" | "server", "t": <seconds since the recording started>,
     "event": {...}}

and a first ``"direction": "meta"`` line with the URL and handshake headers. Credentials never
reach the file: the ``Authorization`` header and anything that looks like an API key
(``sk-...``) are replaced by ``"***"``.

Two ways to record, both without a change to the core:

- ``Recorder`` is a connection listener: ``conn.add_listener(recorder)`` records every server
  event (the core gives listeners no view of what is sent; call :meth:`Recorder.client` for
  that);
- ``recorder.transport(inner)`` wraps a transport so that every text frame in both directions
  is recorded, in the order they crossed the socket. ``Session`` users pass that transport.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import anyio

from ._config import ConnectRequest
from .events import Event, ServerEventBase
from .transports._base import Channel, Received, Transport

__all__ = ["Recorder", "RecordingTransport", "redact"]

_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_SECRET_HEADERS = frozenset({"authorization", "api-key", "openai-api-key", "cookie"})
REDACTED = "***"


def redact(value: Any) -> Any:
    """A copy of a JSON value with key-like strings (``sk-...``) replaced by ``sk-***``."""
    if isinstance(value, str):
        return _KEY.sub("sk-" + REDACTED, value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Recorder:
    """Writes a session's frames to ``path`` as JSON lines.

    Usable as a listener (server events only), or through :meth:`transport` (both directions).
    Lines are written and flushed as frames pass, so a crash keeps what was recorded.

    Args:
        path: The file to write (truncated).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._start = time.monotonic()
        self.count = 0

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.count += 1

    def _offset(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def meta(self, request: ConnectRequest) -> None:
        """Record the handshake: URL and headers, credentials redacted."""
        headers = {
            name: REDACTED if name.lower() in _SECRET_HEADERS else redact(value)
            for name, value in request.headers
        }
        self._write(
            {
                "direction": "meta",
                "t": self._offset(),
                "url": redact(request.url),
                "headers": headers,
            }
        )

    def client(self, event: Mapping[str, Any]) -> None:
        """Record an event the client sent."""
        self._write({"direction": "client", "t": self._offset(), "event": redact(dict(event))})

    def server(self, event: Mapping[str, Any]) -> None:
        """Record an event the server sent."""
        self._write({"direction": "server", "t": self._offset(), "event": redact(dict(event))})

    def __call__(self, event: Event) -> None:
        """Listener entry point: record server events (connection notifications are skipped)."""
        if isinstance(event, ServerEventBase):
            self.server(event.raw)

    def transport(self, inner: Transport) -> RecordingTransport:
        """Wrap ``inner`` so that every text frame, in both directions, is recorded here."""
        return RecordingTransport(inner, self)

    def close(self) -> None:
        """Close the file. Idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _decode(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _RecordingChannel(Channel):
    def __init__(self, inner: Channel, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def _seen(self, items: list[Received]) -> None:
        for item in items:
            if isinstance(item, str):
                event = _decode(item)
                if event is not None:
                    self._recorder.server(event)

    async def receive(self) -> Received:
        item = await self._inner.receive()
        self._seen([item])
        return item

    async def receive_many(self) -> list[Received]:
        items = await self._inner.receive_many()
        self._seen(items)
        return items

    async def send_text(self, text: str) -> None:
        # Recorded before sending: the server's answer may otherwise be recorded first.
        event = _decode(text)
        if event is not None:
            self._recorder.client(event)
        await self._inner.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._inner.send_bytes(data)

    async def send_ping(self, data: bytes = b"") -> anyio.Event:
        return await self._inner.send_ping(data)

    async def send_pong(self, data: bytes = b"") -> None:
        await self._inner.send_pong(data)

    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        await self._inner.send_close(code, reason)


class RecordingTransport(Transport):
    """A transport that records every text frame of ``inner`` to a :class:`Recorder`."""

    def __init__(self, inner: Transport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: ConnectRequest) -> AsyncIterator[Channel]:
        self.recorder.meta(request)
        async with self.inner.connect(request) as channel:
            yield _RecordingChannel(channel, self.recorder)

    async def aclose(self) -> None:
        await self.inner.aclose()
