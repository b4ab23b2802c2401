"""An in-memory transport: two anyio memory object streams stand in for the socket.

Deterministic and fast, it runs a server handler (the fake Realtime server, or any coroutine
function taking a :class:`ServerSocket`) in the same process, on asyncio or trio. The wire keeps
WebSocket semantics that matter to the core: a closing handshake with codes and reasons, pings
answered by the peer, and an abrupt loss seen as code 1006.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import NamedTuple, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._compat import single_exception
from .._config import ConnectRequest, credentials
from .._errors import ConnError
from ._base import Channel, Close, Received, Transport, too_big, upgrade_refused
from ._server import ServerSocket

__all__ = ["MemoryHandler", "MemoryServer", "MemoryTransport"]

logger = logging.getLogger("realtime.transports.memory")


class _Ping(NamedTuple):
    data: bytes


class _Pong(NamedTuple):
    data: bytes


_Item = str | bytes | Close | _Ping | _Pong
_LOST = Close(1006, "connection lost")


@runtime_checkable
class MemoryServer(Protocol):
    """A server object the memory transport can connect to."""

    async def handle(self, socket: ServerSocket) -> None:
        """Serve one connection until it ends."""


MemoryHandler = Callable[[ServerSocket], Awaitable[None]]


class _End:
    """One direction pair of the in-memory wire, with the close bookkeeping both ends share."""

    def __init__(
        self,
        send: MemoryObjectSendStream[_Item],
        recv: MemoryObjectReceiveStream[_Item],
        answer_pings: Callable[[], bool] = lambda: True,
    ) -> None:
        self._send = send
        self._recv = recv
        self.close_sent = False
        self.ended = False
        self.answer_pings = answer_pings
        self._pings: list[tuple[bytes, anyio.Event]] = []

    async def _put(self, item: _Item) -> bool:
        # Like a socket write: returns at once while the buffer has room, waits when it is full.
        try:
            try:
                self._send.send_nowait(item)
            except anyio.WouldBlock:
                await self._send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def _handle(self, item: _Item) -> Received | _Ping | None:
        """Deal with control items; return what the reader should see, if anything."""
        if isinstance(item, _Pong):
            for i, (data, _) in enumerate(self._pings):
                if data == item.data:
                    # A pong answers its ping and every earlier one (RFC 6455 5.5.3).
                    for _, earlier in self._pings[: i + 1]:
                        earlier.set()
                    del self._pings[: i + 1]
                    break
            return None
        if isinstance(item, Close):
            self.ended = True
        return item

    async def receive(self) -> Received:
        while True:
            if self.ended:
                return _LOST
            try:
                item = await self._recv.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self.ended = True
                return _LOST
            seen = self._handle(item)
            if isinstance(seen, _Ping):
                if self.answer_pings():
                    await self._put(_Pong(seen.data))
                continue
            if seen is None:
                continue
            if isinstance(seen, Close) and not self.close_sent:
                # Echo the peer's close, as a WebSocket endpoint must.
                self.close_sent = True
                await self._put(seen)
            return seen

    def receive_ready(self) -> list[Received]:
        """Items already buffered, without waiting; stops after a Close."""
        out: list[Received] = []
        while not self.ended:
            try:
                item = self._recv.receive_nowait()
            except anyio.WouldBlock:
                break
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self.ended = True
                out.append(_LOST)
                break
            if type(item) is str:  # the common case, first
                out.append(item)
                continue
            seen = self._handle(item)
            if isinstance(seen, _Ping):
                if self.answer_pings():
                    try:
                        self._send.send_nowait(_Pong(seen.data))
                    except anyio.WouldBlock:
                        # Leave the ping unanswered for now rather than block a non-blocking
                        # drain; the peer's keepalive tolerates a late pong.
                        pass
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                continue
            if seen is None:
                continue
            if isinstance(seen, Close) and not self.close_sent:
                self.close_sent = True
                try:
                    self._send.send_nowait(seen)
                except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
            out.append(seen)
        return out

    async def send(self, item: str | bytes) -> bool:
        if self.close_sent or self.ended:
            return False
        return await self._put(item)

    async def send_close(self, code: int, reason: str) -> None:
        if self.close_sent or self.ended:
            return
        self.close_sent = True
        await self._put(Close(code, reason))

    async def ping(self, data: bytes) -> anyio.Event:
        event = anyio.Event()
        if not self.close_sent and not self.ended:
            self._pings.append((data, event))
            await self._put(_Ping(data))
        return event

    async def pong(self, data: bytes) -> bool:
        if self.close_sent or self.ended:
            return False
        return await self._put(_Pong(data))

    def abort(self) -> None:
        self.ended = True
        self._send.close()
        self._recv.close()


class _MemoryChannel(Channel):
    def __init__(self, end: _End, max_message_size: int | None = None) -> None:
        self._end = end
        self._limit = max_message_size

    async def _too_big(self, limit: int) -> Close:
        # As a network transport does: close 1009 to the peer, and the end of this channel.
        close = too_big(limit)
        await self._end.send_close(close.code, close.reason)
        self._end.ended = True
        return close

    async def receive(self) -> Received:
        item = await self._end.receive()
        limit = self._limit
        if limit is not None and not isinstance(item, Close) and len(item) > limit:
            return await self._too_big(limit)
        return item

    async def receive_many(self) -> list[Received]:
        first = await self.receive()
        if isinstance(first, Close):
            return [first]
        items = [first, *self._end.receive_ready()]
        limit = self._limit
        if limit is not None:
            for index, item in enumerate(items):
                if not isinstance(item, Close) and len(item) > limit:
                    return [*items[:index], await self._too_big(limit)]
        return items

    async def _send(self, item: str | bytes) -> None:
        if not await self._end.send(item):
            raise ConnError("cannot send: the in-memory connection is closed")

    async def send_text(self, text: str) -> None:
        await self._send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data)

    async def send_ping(self, data: bytes = b"") -> anyio.Event:
        return await self._end.ping(data)

    async def send_pong(self, data: bytes = b"") -> None:
        if not await self._end.pong(data):
            raise ConnError("cannot send: the in-memory connection is closed")

    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        await self._end.send_close(code, reason)


class _MemoryServerSocket(ServerSocket):
    def __init__(self, request: ConnectRequest, end: _End) -> None:
        parts = urlsplit(request.url)
        self.path = parts.path or "/"
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = request.headers
        self.answer_pings = True
        self._end = end
        end.answer_pings = lambda: self.answer_pings
        self.decided = anyio.Event()
        self.rejection: tuple[int, bytes, str] | None = None

    async def accept(self) -> None:
        self.decided.set()

    async def reject(
        self, status_code: int, body: bytes = b"", content_type: str = "application/json"
    ) -> None:
        if not self.decided.is_set():
            self.rejection = (status_code, body, content_type)
            self.decided.set()

    async def receive(self) -> str | bytes | Close:
        return await self._end.receive()

    async def send_text(self, text: str) -> None:
        await self._end.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._end.send(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._end.send_close(code, reason)

    async def abort(self) -> None:
        self._end.abort()


class MemoryTransport(Transport):
    """Connects to a server object in the same process, over memory object streams.

    Args:
        server: An object with ``async handle(socket)`` (such as
            :class:`fakes.FakeRealtimeServer`), or a coroutine function taking a
            :class:`ServerSocket`. It runs once per connection, in a task of the connection.
        buffer_size: Messages buffered in each direction before a sender waits, like a
            socket buffer.
    """

    def __init__(self, server: MemoryServer | MemoryHandler, *, buffer_size: int = 256) -> None:
        self._handler: MemoryHandler = server.handle if isinstance(server, MemoryServer) else server
        self._buffer_size = buffer_size if buffer_size >= 0 else math.inf

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: ConnectRequest) -> AsyncIterator[Channel]:
        c2s_send, c2s_recv = anyio.create_memory_object_stream[_Item](self._buffer_size)
        s2c_send, s2c_recv = anyio.create_memory_object_stream[_Item](self._buffer_size)
        client = _End(c2s_send, s2c_recv)
        socket = _MemoryServerSocket(request, _End(s2c_send, c2s_recv))
        # Closing the four stream ends on the way out, whatever happened, is what a socket's
        # close would do; an unclosed end is a ResourceWarning when it is collected.
        with c2s_send, c2s_recv, s2c_send, s2c_recv, single_exception():
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._serve, socket)
                with anyio.move_on_after(request.connect_timeout) as scope:
                    await socket.decided.wait()
                if scope.cancelled_caught:
                    tg.cancel_scope.cancel()
                    raise ConnError(f"connect timed out after {request.connect_timeout} s")
                if socket.rejection is not None:
                    tg.cancel_scope.cancel()
                    status, body, _ = socket.rejection
                    raise upgrade_refused(status, body, secrets=credentials(request.headers))
                try:
                    yield _MemoryChannel(client, request.max_message_size)
                finally:
                    client.abort()
                    tg.cancel_scope.cancel()

    async def _serve(self, socket: _MemoryServerSocket) -> None:
        try:
            await self._handler(socket)
        except Exception as exc:
            # A handler is test code: say loudly what broke, and let the client see it.
            logger.exception("in-memory server handler failed")
            if not socket.decided.is_set():
                await socket.reject(500, b'{"error": {"message": "server handler failed"}}')
            else:
                await socket.close(1011, f"server handler failed: {type(exc).__name__}")
            return
        if not socket.decided.is_set():
            await socket.reject(
                500,
                b'{"error": {"message": "handler neither accepted nor rejected the connection"}}',
            )
        else:
            await socket.close(1000, "")
