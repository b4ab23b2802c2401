"""Recording sessions as JSON lines, for replay by ``FakeRealtimeServer.replay``.

One line per frame::

    {"direction": "client" | "server", "t": <seconds since the recording started>,
     "event": {...}}

and a first ``"direction": "meta"`` line with the URL and handshake headers. Credentials never
reach the file: the ``Authorization`` header and anything that looks like an API key
(``sk-...``) are replaced by ``"***"``.

Recording never changes what the connection does: a frame the recorder cannot handle (JSON
nested deeper than Python can decode, a write that fails) is logged and noted in the file as a
``{"direction": "meta", "t": ..., "note": "..."}`` line (replay skips meta lines), never raised
into the transport or the listener call.

Two ways to record, both without a change to the core:

- ``Recorder`` is a connection listener: ``conn.add_listener(recorder)`` records every server
  event (the core gives listeners no view of what is sent; call :meth:`Recorder.client` for
  that);
- ``recorder.transport(inner)`` wraps a transport so that every text frame in both directions
  is recorded, in the order they crossed the socket. ``Session`` users pass that transport.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import anyio

from .._config import ConnectRequest
from ..events import Event, ServerEventBase
from ._base import Channel, Received, Transport

__all__ = ["Recorder", "RecordingTransport", "redact"]

logger = logging.getLogger("realtime.recorder")

_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
_SECRET_HEADERS = frozenset({"authorization", "api-key", "openai-api-key", "cookie"})
REDACTED = "***"


def _redact_text(text: str) -> str:
    return _KEY.sub("sk-" + REDACTED, text)


def redact(value: Any) -> Any:
    """A copy of a JSON value with key-like strings (``sk-...``) replaced by ``sk-***``.

    Iterative, so that an event nested as deep as JSON decoding allows is handled too.
    """
    if isinstance(value, str):
        return _redact_text(value)
    if not isinstance(value, (dict, list)):
        return value
    root: dict[Any, Any] | list[Any] = dict(value) if isinstance(value, dict) else list(value)
    todo = [root]
    while todo:
        node = todo.pop()
        slots = node.items() if isinstance(node, dict) else enumerate(node)
        for slot, item in slots:
            copy: dict[Any, Any] | list[Any]
            if isinstance(item, str):
                node[slot] = _redact_text(item)
            elif isinstance(item, dict):
                node[slot] = copy = dict(item)
                todo.append(copy)
            elif isinstance(item, list):
                node[slot] = copy = list(item)
                todo.append(copy)
    return root


class Recorder:
    """Writes a session's frames to ``path`` as JSON lines.

    Usable as a listener (server events only), or through :meth:`transport` (both directions).
    Lines are written and flushed as frames pass, so a crash keeps what was recorded.

    Args:
        path: The file to write (truncated).

    Attributes:
        count: Lines written.
        failures: Frames (or headers) that could not be recorded; each is logged and noted.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._start = time.monotonic()
        self.count = 0
        self.failures = 0

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
        try:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:
            # A lone surrogate (JSON may escape one: "\\ud800") has no UTF-8 form: write the
            # line with JSON escapes instead, which reads back to the same event.
            self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        self.count += 1

    def _record(self, what: str, make: Callable[[], dict[str, Any]]) -> None:
        # Never raise: a recorder failure must not change what the connection does.
        try:
            self._write(make())
        except Exception as exc:
            self._failed(what, exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        # The type only: the frame may hold anything, a key included.
        note = f"{what} not recorded: {type(exc).__name__}"
        logger.warning("recorder %s: %s", self.path, note)
        try:
            self._write({"direction": "meta", "t": self._offset(), "note": note})
        except Exception as again:
            logger.warning("recorder %s: cannot write: %s", self.path, type(again).__name__)

    def _offset(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def meta(self, request: ConnectRequest) -> None:
        """Record the handshake: URL and headers, credentials redacted."""

        def make() -> dict[str, Any]:
            headers = {
                name: REDACTED if name.lower() in _SECRET_HEADERS else redact(value)
                for name, value in request.headers
            }
            return {
                "direction": "meta",
                "t": self._offset(),
                "url": redact(request.url),
                "headers": headers,
            }

        self._record("handshake", make)

    def client(self, event: Mapping[str, Any]) -> None:
        """Record an event the client sent."""
        self._record(
            "client event",
            lambda: {"direction": "client", "t": self._offset(), "event": redact(dict(event))},
        )

    def server(self, event: Mapping[str, Any]) -> None:
        """Record an event the server sent."""
        self._record(
            "server event",
            lambda: {"direction": "server", "t": self._offset(), "event": redact(dict(event))},
        )

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


class _RecordingChannel(Channel):
    def __init__(self, inner: Channel, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def _decode(self, text: str, what: str) -> dict[str, Any] | None:
        try:
            value = json.loads(text)
        except ValueError:
            return None  # not JSON: not an event, nothing to record (as before)
        except RecursionError as exc:  # valid JSON maybe, but nested deeper than Python goes
            self._recorder._failed(what, exc)
            return None
        return value if isinstance(value, dict) else None

    def _seen(self, items: list[Received]) -> None:
        for item in items:
            if isinstance(item, str):
                event = self._decode(item, "server event")
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
        event = self._decode(text, "client event")
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
