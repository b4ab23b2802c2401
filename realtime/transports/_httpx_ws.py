"""The network transport: WebSocket over httpx, with httpx-ws for the frames.

The upgrade request is sent with the httpx client itself (so the user's proxies, TLS settings and
limits apply, and a refused upgrade's body can still be read); the upgraded stream is then driven
by a subclass of httpx-ws's ``AsyncWebSocketSession`` that:

- runs no keepalive task (the core does keepalive),
- buffers received messages: httpx-ws hands each message over an unbuffered stream, which
  costs two task switches per message (the buffer makes receiving ~1.7x faster, see
  BENCHMARKS-transport.md),
- tolerates unsolicited pongs and pings that arrive while closing (httpx-ws would crash its
  background task on either),
- stops a message over ``max_message_size`` while it arrives, with close 1009 (httpx-ws
  buffers every message whole, whatever its size),
- answers a frame wsproto cannot parse (invalid UTF-8 in a text message: 1007; a protocol
  error: 1002) with a close frame of that code, and reports that code,
- bounds its closing write by the close timeout.

No httpx, httpx-ws or wsproto type or exception crosses this module's API: failures become
:class:`~realtime.ConnError`, the end of a connection a :class:`Close`.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpcore
import httpx
import wsproto
import wsproto.connection
import wsproto.events
import wsproto.utilities
from anyio.streams.memory import MemoryObjectReceiveStream
from httpx_ws import AsyncWebSocketSession, HTTPXWSException, WebSocketNetworkError
from httpx_ws._api import EndOfStream
from httpx_ws._ping import AsyncPingManager

from realtime._config import ConnectRequest, credentials
from realtime._errors import ConnError
from realtime.transports._base import (
    Channel,
    Close,
    Received,
    Transport,
    host_port,
    too_big,
    upgrade_refused,
)

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["HttpxWsTransport"]

logger = logging.getLogger("realtime.transports.httpx_ws")

# Bytes asked of the socket per read: large enough that a 100 ms audio delta (~6.5 KB) or a
# burst of small deltas arrives in one read.
_READ_SIZE = 256 * 1024
# Messages httpx-ws's reader may queue ahead of the core. It bounds memory (the core has its
# own bounded buffer behind this one) and keeps TCP backpressure working. 16 already gets
# nearly all of the gain over an unbuffered queue; 64 leaves room for bursts.
_QUEUE_SIZE = 64
# Most of a refused upgrade's body that is read (error bodies are small JSON documents).
_MAX_ERROR_BODY = 64 * 1024
_LOST = Close(1006, "connection lost")
# A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455 5.5).
_MAX_REASON = 123


class _Pings(AsyncPingManager):
    """Pong bookkeeping: a pong answers its ping and every earlier one (RFC 6455 5.5.3);
    an unsolicited pong is ignored (httpx-ws raises KeyError on it, in its reader task)."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: list[tuple[bytes, anyio.Event]] = []

    def create(self, ping_id: bytes | None = None) -> tuple[bytes, anyio.Event]:
        ping_id = ping_id or self._generate_id()
        event = anyio.Event()
        self._waiting.append((ping_id, event))
        return ping_id, event

    def ack(self, ping_id: bytes | bytearray) -> None:
        data = bytes(ping_id)
        for index, (waiting, _) in enumerate(self._waiting):
            if waiting == data:
                for _, event in self._waiting[: index + 1]:
                    event.set()
                del self._waiting[: index + 1]
                return


class _WsprotoConnection(wsproto.connection.Connection):
    """wsproto's connection, except that a pong due while closing is dropped, not raised.

    httpx-ws answers pings from its reader task; a ping arriving after our close frame would
    otherwise make wsproto raise there and crash the session.
    """

    def send(self, event: wsproto.events.Event) -> bytes:
        if (
            isinstance(event, wsproto.events.Pong)
            and self.state is not wsproto.connection.ConnectionState.OPEN
        ):
            return b""
        return super().send(event)


@dataclass(frozen=True)
class _Failed(wsproto.events.Event):
    """We failed the connection (a message too big, a frame that does not parse): this is
    the close we sent, and what ``receive`` reports."""

    close: Close


_Queued = wsproto.events.Event | HTTPXWSException


class _Session(AsyncWebSocketSession):
    """httpx-ws's session with a buffered queue, no keepalive and a bounded close."""

    def __init__(
        self,
        stream: httpcore.AsyncNetworkStream,
        *,
        close_timeout: float,
        max_message_size: int | None = None,
    ) -> None:
        super().__init__(
            stream,
            max_message_size_bytes=_READ_SIZE,
            queue_size=_QUEUE_SIZE,
            keepalive_ping_interval_seconds=None,
            keepalive_ping_timeout_seconds=None,
        )
        self.connection = _WsprotoConnection(wsproto.ConnectionType.CLIENT)
        self._ping_manager = _Pings()
        self._close_timeout = close_timeout
        self.aborted = False
        self._limit = max_message_size

    @property
    def queue(self) -> MemoryObjectReceiveStream[_Queued]:
        return self._receive_event

    @asynccontextmanager
    async def __asynccontextmanager__(self) -> AsyncIterator[_Session]:
        # As httpx-ws's own, but with a buffered queue and without the keepalive task.
        self._send_event, self._receive_event = anyio.create_memory_object_stream[_Queued](
            self._queue_size
        )
        self._background_task_group = anyio.create_task_group()
        async with self._send_event, self._receive_event, self._background_task_group:
            self._background_task_group.start_soon(self._receive_guarded)
            try:
                yield self
            finally:
                self._background_task_group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self.close()

    async def _receive_guarded(self) -> None:
        try:
            await self._background_receive(self._max_message_size_bytes)
        except Exception as exc:
            # Never let the reader task crash the session's task group (that would surface
            # as an ExceptionGroup in the core): report the loss instead.
            logger.debug("httpx-ws reader failed: %r", exc)
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await self._send_event.send(WebSocketNetworkError())
        finally:
            # The reader also stops without a word when a failed write made httpx-ws close
            # the session (it sets _should_close): end the queue, so that the receiver sees
            # the loss (1006) after what was queued instead of waiting forever.
            self._send_event.close()

    async def _background_receive(self, max_bytes: int) -> None:
        # httpx-ws's reader, but a message is counted while it arrives (wsproto hands over
        # each frame's payload in pieces, text already decoded) and stopped once over the
        # limit, and a frame wsproto cannot parse fails the connection with its code.
        connection = self.connection
        limit = self._limit
        parts: list[Any] = []
        size = 0
        try:
            while not self._should_close.is_set():
                data = await self._read_stream(max_bytes)
                connection.receive_data(data)
                for event in connection.events():
                    if isinstance(event, wsproto.events.Message):
                        size += len(event.data)
                        if limit is not None and size > limit:
                            await self._fail(too_big(limit))
                            return
                        if not event.message_finished:
                            parts.append(event.data)
                            continue
                        if parts:
                            parts.append(event.data)
                            whole = "" if isinstance(event, wsproto.events.TextMessage) else b""
                            event = type(event)(data=whole.join(parts))
                            parts.clear()
                        size = 0
                        await self._send_event.send(event)
                    elif isinstance(event, wsproto.events.Ping):
                        pong = connection.send(event.response())
                        async with self._write_lock:
                            await self.stream.write(pong)
                    elif isinstance(event, wsproto.events.Pong):
                        self._ping_manager.ack(event.payload)
                    elif (
                        isinstance(event, wsproto.events.CloseConnection)
                        and connection.state is wsproto.connection.ConnectionState.OPEN
                    ):
                        # Not the peer's close frame (that moves the state on): wsproto's
                        # report of a frame it could not parse.
                        await self._fail(Close(int(event.code), event.reason or ""))
                        return
                    else:
                        if isinstance(event, wsproto.events.CloseConnection):
                            self._should_close.set()
                        await self._send_event.send(event)
        except (httpcore.ReadError, httpcore.WriteError, EndOfStream):
            await self.close(1011, "Stream error")
            await self._send_event.send(WebSocketNetworkError())

    async def _fail(self, close: Close) -> None:
        """Fail the connection (RFC 6455 7.1.7): send our close frame, stop reading, and
        report ``close`` to the receiver. The peer's answer is not awaited."""
        self._should_close.set()
        reason = close.reason.encode()[:_MAX_REASON].decode("utf-8", "ignore")
        with anyio.move_on_after(self._close_timeout):
            with contextlib.suppress(
                HTTPXWSException, wsproto.utilities.LocalProtocolError, httpcore.NetworkError
            ):
                await self.send(wsproto.events.CloseConnection(code=close.code, reason=reason))
        logger.debug("failed the WebSocket connection: %s %s", close.code, close.reason)
        await self._send_event.send(_Failed(close))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if not self.aborted:
            with anyio.move_on_after(self._close_timeout):
                await super().close(code, reason)
                return
        # The peer stopped reading and our close frame could not be written: just drop it.
        with anyio.CancelScope() as scope:
            scope.cancel()
            await self.stream.aclose()


class _HttpxWsChannel(Channel):
    # ``receive_many`` is deliberately not overridden: draining the buffered queue without
    # waiting measured 1-4 % slower on asyncio and 8-15 % slower on trio than one ``receive``
    # per message (bench/bench_transport.py, variant b1; see BENCHMARKS-transport.md).

    def __init__(self, session: _Session) -> None:
        self._ws = session
        self._queue = session.queue
        self._ended: Close | None = None
        self._peer_close: wsproto.events.CloseConnection | None = None

    def abort(self) -> None:
        self._ws.aborted = True

    def _convert(self, item: _Queued) -> Received:
        if isinstance(item, wsproto.events.TextMessage):
            return item.data
        if isinstance(item, wsproto.events.BytesMessage):
            data = item.data
            return data if type(data) is bytes else bytes(data)
        if isinstance(item, wsproto.events.CloseConnection):
            self._peer_close = item
            return self._end(Close(int(item.code), item.reason or ""))
        if isinstance(item, _Failed):
            return self._end(item.close)
        return self._end(_LOST)

    def _end(self, close: Close) -> Close:
        # After the end httpx-ws's reader has stopped: never wait on its queue again.
        if self._ended is None:
            self._ended = close
        return self._ended

    async def _echo_close(self) -> None:
        # Answer the peer's close frame now, as an endpoint must, rather than when the core
        # leaves the channel.
        peer = self._peer_close
        connection = self._ws.connection
        if (
            peer is not None
            and connection.state is wsproto.connection.ConnectionState.REMOTE_CLOSING
        ):
            with contextlib.suppress(HTTPXWSException, wsproto.utilities.LocalProtocolError):
                await self._ws.send(peer.response())

    async def receive(self) -> Received:
        if self._ended is not None:
            return self._ended
        try:
            item = await self._queue.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return self._end(_LOST)
        received = self._convert(item)
        if isinstance(received, Close):
            await self._echo_close()
        return received

    async def _send(self, event: wsproto.events.Event) -> None:
        try:
            await self._ws.send(event)
        except (
            HTTPXWSException,
            wsproto.utilities.LocalProtocolError,
            httpcore.NetworkError,
        ):
            # Not chained: httpx-ws and wsproto types stay out of our API; the core adds how
            # the connection ended (close code, the server's error) to what it raises.
            raise ConnError("cannot send: the WebSocket connection is closed") from None

    async def send_text(self, text: str) -> None:
        await self._send(wsproto.events.TextMessage(data=text))

    async def send_bytes(self, data: bytes) -> None:
        await self._send(wsproto.events.BytesMessage(data=data))

    async def send_ping(self, data: bytes = b"") -> anyio.Event:
        try:
            return await self._ws.ping(data)
        except (
            HTTPXWSException,
            wsproto.utilities.LocalProtocolError,
            httpcore.NetworkError,
        ):
            # Not chained: httpx-ws and wsproto types stay out of our API; the core adds how
            # the connection ended (close code, the server's error) to what it raises.
            raise ConnError("cannot send: the WebSocket connection is closed") from None

    async def send_pong(self, data: bytes = b"") -> None:
        await self._send(wsproto.events.Pong(payload=data))

    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        state = self._ws.connection.state
        if state is not wsproto.connection.ConnectionState.OPEN:
            return  # closing or closed already: the peer's answer (or the loss) is coming
        await self._send(wsproto.events.CloseConnection(code=code, reason=reason or None))


class HttpxWsTransport(Transport):
    """WebSocket over the network with httpx and httpx-ws (the default transport).

    Args:
        client: The ``httpx.AsyncClient`` to connect with, so that its proxies, TLS settings
            and limits apply. It stays the caller's: :meth:`aclose` does not close it. Without
            one, the transport creates its own on first connect (one per transport, shared by
            its connections) and closes it in :meth:`aclose`.
        **client_options: Keyword arguments for that own ``httpx.AsyncClient`` (``verify``,
            ``proxy``, ``trust_env``, ...). Not allowed together with ``client``.

    Every connection holds one of the client's connections for its whole life; the owned
    client has no limit on their number, a given client keeps its own limits.
    """

    def __init__(self, client: httpx.AsyncClient | None = None, **client_options: Any) -> None:
        if client is not None and client_options:
            raise TypeError("pass either an httpx.AsyncClient or options for one, not both")
        self._client = client
        self._owns_client = client is None
        self._client_options: dict[str, Any] = {
            "limits": httpx.Limits(max_connections=None, max_keepalive_connections=0),
            **client_options,
        }

    def __repr__(self) -> str:
        owner = "own client" if self._owns_client else "given client"
        return f"HttpxWsTransport({owner})"

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(**self._client_options)
        return self._client

    async def aclose(self) -> None:
        """Close the client the transport created, if any; a given client is left open."""
        client = self._client
        if self._owns_client and client is not None:
            self._client = None
            await client.aclose()

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: ConnectRequest) -> AsyncIterator[Channel]:
        async with _unwrapped():
            try:
                response = await self._handshake(request)
            except ConnError as exc:
                exc.mask(credentials(request.headers))
                raise
            try:
                stream = response.extensions["network_stream"]
                async with _Session(
                    stream,
                    close_timeout=request.close_timeout,
                    max_message_size=request.max_message_size,
                ) as session:
                    yield _HttpxWsChannel(session)
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()

    async def _handshake(self, request: ConnectRequest) -> httpx.Response:
        client = self._get_client()
        url = _http_url(request.url)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        headers = [
            *request.headers,
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
        where = host_port(url)
        timeout = request.connect_timeout
        try:
            with anyio.fail_after(timeout):
                http_request = client.build_request(
                    "GET", url, headers=headers, timeout=httpx.Timeout(timeout)
                )
                # Never follow a redirect (a given client may be set to): httpx strips only
                # Authorization on a cross-origin one, and would forward an api-key header.
                response = await client.send(http_request, stream=True, follow_redirects=False)
                try:
                    if response.status_code != 101:
                        raise await _refused(response, credentials(request.headers))
                    accept = response.headers.get("sec-websocket-accept", "")
                    expected = wsproto.utilities.generate_accept_token(key.encode()).decode()
                    if accept != expected:
                        raise ConnError(
                            f"the server at {where} answered 101 with a wrong "
                            "Sec-WebSocket-Accept: not a WebSocket server"
                        )
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
                    raise
        except TimeoutError as exc:
            raise ConnError(f"connect to {where} timed out after {timeout} s") from exc
        except httpx.TimeoutException as exc:
            raise ConnError(f"connect to {where} timed out after {timeout} s") from exc
        except httpx.HTTPError as exc:
            raise _connect_error(exc, where) from exc
        return response


async def _refused(response: httpx.Response, secrets: tuple[str, ...]) -> ConnError:
    body = bytearray()
    with contextlib.suppress(httpx.HTTPError):
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= _MAX_ERROR_BODY:
                break
    return upgrade_refused(
        response.status_code,
        bytes(body),
        secrets=secrets,
        location=response.headers.get("location"),
    )


def _connect_error(exc: httpx.HTTPError, where: str) -> ConnError:
    causes = _chain(exc)
    host = where.rsplit(":", 1)[0]
    if any(isinstance(c, socket.gaierror) for c in causes):
        return ConnError(f"could not resolve host {host} (DNS lookup failed)")
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return ConnError(f"connection refused by {where}")
    if any(isinstance(c, ssl.SSLError) for c in causes):
        cert = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
        detail = cert.verify_message if cert is not None else str(exc)
        return ConnError(f"TLS handshake with {where} failed: {detail}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConnError(f"cannot connect to {where}: {exc}")
    if isinstance(exc, httpx.ConnectError) and "name" in str(exc).lower():
        return ConnError(f"could not resolve host {host} (DNS lookup failed): {exc}")
    return ConnError(f"could not connect to {where}: {type(exc).__name__}: {exc}")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and the members of any group among them
    (trio reports a failed connect as an OSError caused by a group of per-address errors)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


@asynccontextmanager
async def _unwrapped() -> AsyncIterator[None]:
    """Let exceptions out one at a time: never an ExceptionGroup from httpx-ws's task group,
    and never an httpx, httpcore or httpx-ws exception."""
    leaf: BaseException | None = None
    try:
        yield
    except BaseExceptionGroup as group:
        leaf = _first_leaf(group)
    except (httpx.HTTPError, httpcore.NetworkError, HTTPXWSException) as exc:
        raise ConnError(f"the WebSocket connection failed: {type(exc).__name__}") from exc
    if leaf is None:
        return
    if isinstance(leaf, (httpx.HTTPError, httpcore.NetworkError, HTTPXWSException)):
        raise ConnError(f"the WebSocket connection failed: {type(leaf).__name__}") from leaf
    raise leaf


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    # A non-Exception (KeyboardInterrupt, cancellation) wins; else the first exception.
    leaves: list[BaseException] = []

    def walk(g: BaseExceptionGroup[BaseException]) -> None:
        for e in g.exceptions:
            if isinstance(e, BaseExceptionGroup):
                walk(e)
            else:
                leaves.append(e)

    walk(group)
    for e in leaves:
        if not isinstance(e, Exception):
            return e
    return leaves[0]
