"""Serve a :class:`~realtime.transports.ServerSocket` handler on a real socket.

A small WebSocket server: an anyio TCP listener (optionally TLS), h11 for the upgrade request
(so the handshake headers are recorded exactly as sent, names in their case and in order) and
wsproto for the frames. No web framework, and it runs on asyncio and trio alike.

Each TCP connection runs in its own task: the upgrade request is read, the handler is called
with a :class:`ServerSocket`, and once the upgrade is accepted a reader task answers pings,
echoes close frames and queues messages for ``socket.receive()``. Leaving the context cancels
every connection at once: nothing waits on a timer.

A plain HTTP request (not a WebSocket upgrade) goes to the optional ``http`` handler, which
answers it with an :class:`HttpResponse` (one request per connection: ``Connection: close``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket as _socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import anyio
import h11
from anyio.abc import ByteStream, SocketAttribute, SocketListener, TaskGroup
from anyio.streams.tls import TLSStream
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, generate_accept_token

from realtime.transports import Close, ServerSocket

__all__ = ["Handler", "HttpHandler", "HttpRequest", "HttpResponse", "serve"]

logger = logging.getLogger("fakes.serve")

Handler = Callable[[ServerSocket], Awaitable[None]]


@dataclass(frozen=True)
class HttpRequest:
    """A plain HTTP request (not a WebSocket upgrade), body read in full."""

    method: str
    path: str
    query: dict[str, str]
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str:
        """The value of header ``name`` (any case), ``""`` when absent."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), "")


@dataclass(frozen=True)
class HttpResponse:
    """The answer to an :class:`HttpRequest`."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]

_READ_SIZE = 256 * 1024
# Queued frames are written at once past this many bytes (backpressure on the sender).
_CORK_LIMIT = 64 * 1024
_INBOX_SIZE = 256
# Bounds on a misbehaving client; generous, so that they never fire in a passing test.
_HANDSHAKE_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0
_MAX_REQUEST_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_LOST = Close(1006, "connection lost")


def _text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class _ClosedError(Exception):
    """The TCP connection ended while reading the upgrade request."""


class _BodyTooLargeError(Exception):
    """A plain HTTP request's body is larger than :data:`_MAX_BODY`."""


class _WsServerSocket(ServerSocket):
    """One accepted TCP connection, upgraded (or refused) by the handler."""

    def __init__(
        self,
        stream: ByteStream,
        http: h11.Connection,
        request: h11.Request,
        task_group: TaskGroup,
    ) -> None:
        target = request.target.decode("ascii", "replace")
        parts = urlsplit(target)
        self.path = parts.path or "/"
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw_items()
        )
        self.answer_pings = True
        self._stream = stream
        self._http = http
        self._request = request
        self._task_group = task_group
        self._ws = Connection(ConnectionType.SERVER)
        self._write_lock = anyio.Lock(fast_acquire=True)
        self._out = bytearray()  # frames queued, written at the sender's next yield
        self._flush_scheduled = False
        self._wake_writer = anyio.Event()
        send, recv = anyio.create_memory_object_stream[str | bytes | Close](_INBOX_SIZE)
        self._inbox_send = send
        self._inbox = recv
        self.accepted = False
        self.decided = False
        self.ended: Close | None = None
        self.reader_done = anyio.Event()

    # -- the handshake ---------------------------------------------------------------------

    def _header(self, name: bytes) -> bytes | None:
        for key, value in self._request.headers:
            if key == name:
                return bytes(value)
        return None

    async def accept(self) -> None:
        if self.decided:
            return
        key = self._header(b"sec-websocket-key")
        upgrade = (self._header(b"upgrade") or b"").lower()
        version = self._header(b"sec-websocket-version")
        if key is None or upgrade != b"websocket" or version != b"13":
            await self.reject(
                400, b'{"error": {"message": "not a valid WebSocket upgrade request"}}'
            )
            return
        self.decided = True
        self.accepted = True
        data = self._http.send(
            h11.InformationalResponse(
                status_code=101,
                headers=[
                    (b"Upgrade", b"websocket"),
                    (b"Connection", b"Upgrade"),
                    (b"Sec-WebSocket-Accept", generate_accept_token(key)),
                ],
            )
        )
        await self._write(data or b"")
        leftover, _ = self._http.trailing_data
        self._task_group.start_soon(self._read, bytes(leftover))
        self._task_group.start_soon(self._writer)

    async def reject(
        self, status_code: int, body: bytes = b"", content_type: str = "application/json"
    ) -> None:
        if self.decided:
            return
        self.decided = True
        out = self._http.send(
            h11.Response(
                status_code=status_code,
                headers=[
                    (b"Content-Type", content_type.encode("latin-1")),
                    (b"Content-Length", str(len(body)).encode()),
                    (b"Connection", b"close"),
                ],
            )
        )
        out = (out or b"") + (self._http.send(h11.Data(data=body)) or b"")
        out += self._http.send(h11.EndOfMessage()) or b""
        await self._write(out)
        self._end(Close(1006, "upgrade refused"))

    # -- frames ----------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            self._end(_LOST)

    async def _send(self, event: Event) -> None:
        """Queue ``event``'s frame (see :meth:`_queue`)."""
        if self.ended is not None:
            return
        try:
            data = self._ws.send(event)
        except LocalProtocolError:
            return
        await self._queue(data, now=isinstance(event, CloseConnection))

    async def _queue(self, data: bytes, *, now: bool = False) -> None:
        """Queue a frame; it is written with the frames queued before the sender yields (one
        write for a burst of events, not one each); at once past _CORK_LIMIT bytes
        (backpressure) and with ``now`` (a close frame)."""
        self._out += data
        if now or len(self._out) >= _CORK_LIMIT:
            await self._flush()
        elif not self._flush_scheduled:
            # Woken rather than spawned: a task per burst cost more than the write it made.
            self._flush_scheduled = True
            self._wake_writer.set()

    async def _flush(self) -> None:
        async with self._write_lock:
            while self._out and self.ended is None:
                data = bytes(self._out)
                self._out.clear()
                await self._write(data)

    async def _writer(self) -> None:
        """Write what was queued, each time a sender wakes it (then at the sender's yield)."""
        while True:
            await self._wake_writer.wait()
            self._wake_writer = anyio.Event()
            self._flush_scheduled = False
            await self._flush()

    def _end(self, close: Close) -> None:
        if self.ended is None:
            self.ended = close
        self._inbox_send.close()

    async def _read(self, leftover: bytes) -> None:
        """Feed the socket into wsproto; answer pings, echo closes, queue messages."""
        ws = self._ws
        text_parts: list[str] = []
        byte_parts: list[bytes] = []
        try:
            data: bytes | None = leftover
            while True:
                if data is None or data:
                    ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, TextMessage):
                        text_parts.append(event.data)
                        if event.message_finished:
                            await self._inbox_send.send("".join(text_parts))
                            text_parts.clear()
                    elif isinstance(event, BytesMessage):
                        byte_parts.append(bytes(event.data))
                        if event.message_finished:
                            await self._inbox_send.send(b"".join(byte_parts))
                            byte_parts.clear()
                    elif isinstance(event, Ping):
                        if self.answer_pings:
                            await self._send(event.response())
                    elif isinstance(event, CloseConnection):
                        close = Close(int(event.code), event.reason or "")
                        if ws.state is ConnectionState.REMOTE_CLOSING:
                            await self._send(event.response())
                        await self._inbox_send.send(close)
                        self._end(close)
                        return
                if data is None:
                    return
                try:
                    data = await self._stream.receive(_READ_SIZE)
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    data = None  # wsproto reports 1006; a partial message is dropped
                except OSError:
                    data = None
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The inbox was closed: the connection was aborted or the handler is gone.
            pass
        finally:
            self._end(_LOST)
            self.reader_done.set()

    # -- the ServerSocket API --------------------------------------------------------------

    def release(self) -> None:
        """Close both ends of the inbox once the connection is over (its tasks are done)."""
        self._inbox_send.close()
        self._inbox.close()

    async def receive(self) -> str | bytes | Close:
        try:
            return await self._inbox.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return self.ended or _LOST

    async def send_text(self, text: str) -> None:
        # Framed here rather than by wsproto (the hottest path of a served fake): one unmasked
        # final text frame, no extension negotiated; wsproto still sends pongs and closes, and
        # its state says whether data may still be sent.
        if self.ended is None and self._ws.state is ConnectionState.OPEN:
            await self._queue(_text_frame(text.encode()))

    async def send_bytes(self, data: bytes) -> None:
        await self._send(BytesMessage(data=data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._send(CloseConnection(code=code, reason=reason or None))

    async def abort(self) -> None:
        self._end(Close(1006, "aborted by the server"))
        raw = self._stream.extra(SocketAttribute.raw_socket, None)
        if raw is not None:
            # Linger 0: the close sends a TCP reset instead of a FIN, like a crashed peer.
            with contextlib.suppress(OSError):
                raw.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0))
        await anyio.aclose_forcefully(self._stream)


async def _read_request(stream: ByteStream, http: h11.Connection) -> tuple[h11.Request, bytes]:
    """The request head and its body (empty for an upgrade)."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(_READ_SIZE)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                data = b""
            http.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                raise _BodyTooLargeError
        elif isinstance(event, h11.EndOfMessage) or event is h11.PAUSED:
            if request is None:  # pragma: no cover - h11 gives the request first
                raise _ClosedError
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise _ClosedError


def _is_upgrade(request: h11.Request) -> bool:
    return any(
        name == b"upgrade" and value.lower() == b"websocket" for name, value in request.headers
    )


async def _answer_http(
    http_handler: HttpHandler,
    stream: ByteStream,
    http: h11.Connection,
    request: h11.Request,
    body: bytes,
) -> None:
    """Answer a plain HTTP request with ``http_handler``, then end the connection."""
    target = urlsplit(request.target.decode("ascii", "replace"))
    plain = HttpRequest(
        method=request.method.decode("ascii", "replace"),
        path=target.path or "/",
        query=dict(parse_qsl(target.query, keep_blank_values=True)),
        headers=tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw_items()
        ),
        body=body,
    )
    try:
        response = await http_handler(plain)
    except Exception:
        logger.exception("HTTP handler failed")
        response = HttpResponse(500, b'{"error": "the HTTP handler failed; see the fake\'s log"}')
    await _send_response(stream, http, response)


async def _send_response(stream: ByteStream, http: h11.Connection, response: HttpResponse) -> None:
    out = http.send(
        h11.Response(
            status_code=response.status,
            headers=[
                (b"Content-Type", response.content_type.encode("latin-1")),
                (b"Content-Length", str(len(response.body)).encode()),
                (b"Connection", b"close"),
            ],
        )
    )
    out = (out or b"") + (http.send(h11.Data(data=response.body)) or b"")
    out += http.send(h11.EndOfMessage()) or b""
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await stream.send(out)


async def _serve_connection(
    handler: Handler,
    stream: ByteStream,
    ssl: SSLContext | None,
    http_handler: HttpHandler | None = None,
) -> None:
    try:
        if ssl is not None:
            with anyio.fail_after(_HANDSHAKE_TIMEOUT):
                stream = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=ssl, standard_compatible=False
                )
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_REQUEST_HEAD)
        with anyio.fail_after(_HANDSHAKE_TIMEOUT):
            request, body = await _read_request(stream, http)
    except _BodyTooLargeError:
        await _send_response(
            stream, http, HttpResponse(413, b'{"error": "the request body is too large"}')
        )
        await anyio.aclose_forcefully(stream)
        return
    except Exception as exc:
        # A client that went away (or refused our certificate) mid-handshake, or sent
        # something that is not HTTP: nothing to serve, and no reason to stop the server.
        logger.debug("connection dropped during the handshake: %r", exc)
        await anyio.aclose_forcefully(stream)
        return
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    if http_handler is not None and not _is_upgrade(request):
        try:
            await _answer_http(http_handler, stream, http, request, body)
        finally:
            await anyio.aclose_forcefully(stream)
        return
    socket: _WsServerSocket | None = None
    try:
        async with anyio.create_task_group() as tg:
            socket = _WsServerSocket(stream, http, request, tg)
            await _run_handler(handler, socket)
            if socket.accepted:
                # Wait for the client's close (the reader echoes it), but not forever.
                with anyio.move_on_after(_CLOSE_TIMEOUT):
                    await socket.reader_done.wait()
            tg.cancel_scope.cancel()
    finally:
        if socket is not None:
            socket.release()
        await anyio.aclose_forcefully(stream)


async def _run_handler(handler: Handler, socket: _WsServerSocket) -> None:
    try:
        await handler(socket)
    except Exception as exc:
        logger.exception("WebSocket server handler failed")
        if not socket.decided:
            await socket.reject(500, b'{"error": {"message": "server handler failed"}}')
        else:
            await socket.close(1011, f"server handler failed: {type(exc).__name__}")
        return
    if not socket.decided:
        await socket.reject(
            500, b'{"error": {"message": "handler neither accepted nor rejected the connection"}}'
        )
    else:
        await socket.close(1000, "")


# Errors of accept() that mean "no resources for one more connection now": out of file
# descriptors (EMFILE for the process, ENFILE for the system) or of kernel memory.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_BACKOFF_MIN = 0.01
_ACCEPT_BACKOFF_MAX = 0.5


async def _accept_loop(
    listener: SocketListener,
    serve_one: Callable[[ByteStream], Coroutine[Any, Any, None]],
    tg: TaskGroup,
) -> None:
    """Accept connections until cancelled; out of file descriptors, back off and go on.

    A served fake that takes the load of many agent sessions can run out of file descriptors.
    Exiting then (what ``Listener.serve`` does) would fail every live session with it; instead
    the pending connection waits in the kernel's backlog until a descriptor is free.
    """
    backoff = _ACCEPT_BACKOFF_MIN
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno not in _OUT_OF_RESOURCES:
                raise
            logger.warning(
                "accept() failed (%s): retrying in %.2f s", errno.errorcode[exc.errno], backoff
            )
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, _ACCEPT_BACKOFF_MAX)
            continue
        backoff = _ACCEPT_BACKOFF_MIN
        tg.start_soon(serve_one, stream)


def serve(
    handler: Handler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl: SSLContext | None = None,
    http: HttpHandler | None = None,
) -> AbstractAsyncContextManager[str]:
    """Serve ``handler`` on ``host:port``; the context yields the ``ws://`` (or ``wss://``) URL.

    Every TCP connection runs ``await handler(socket)`` with a :class:`ServerSocket`. The URL
    names the path ``/v1/realtime``, but any path is served: the handler sees
    ``socket.path`` and decides. Leaving the context stops listening and cancels every live
    connection.

    Args:
        handler: A coroutine function taking a :class:`ServerSocket`.
        host: The address to listen on.
        port: The port; 0 picks a free one.
        ssl: A server-side SSL context to serve ``wss://``.
        http: Answers plain HTTP requests (not WebSocket upgrades); without it, ``handler``
            gets them too (and refuses the upgrade).
    """
    return _serve(handler, host, port, ssl, http)


@asynccontextmanager
async def _serve(
    handler: Handler, host: str, port: int, ssl: SSLContext | None, http: HttpHandler | None
) -> AsyncIterator[str]:
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.listeners[0].extra(SocketAttribute.local_port)
    scheme = "wss" if ssl is not None else "ws"
    shown = f"[{host}]" if ":" in host else host

    async def serve_one(stream: ByteStream) -> None:
        await _serve_connection(handler, stream, ssl, http)

    async with listener, anyio.create_task_group() as tg:
        for one in listener.listeners:
            # create_tcp_listener's listeners are TCP socket listeners (typed more loosely).
            tg.start_soon(_accept_loop, cast(SocketListener, one), serve_one, tg)
        try:
            yield f"{scheme}://{shown}:{bound}/v1/realtime"
        finally:
            tg.cancel_scope.cancel()
