"""A network transport on the ``websockets`` library's asyncio client (asyncio only).

``websockets`` parses frames in its protocol's ``data_received`` callback and queues whole
messages, so ``recv()`` returns without a task switch while messages are buffered;
:meth:`_WebsocketsChannel.receive_many` drains what is already there, which lets the core parse
a burst of events and hand them to its dispatcher as one batch.

Configured for the core: no keepalive of its own (the core pings), no compression (Realtime
traffic is mostly base64 audio, which deflate barely shrinks for much CPU), and websockets'
``max_size`` set from ``max_message_size`` so that an oversized message is refused from its
frame header, before it is read: websockets counts bytes and the limit counts characters, so
it gets four times the limit (the most UTF-8 bytes that many characters take) and the core
checks the exact size of what gets through. When websockets fails the connection by itself
(message too big: 1009, invalid UTF-8: 1007, a protocol error: 1002) ``receive`` reports the
close it sent, not a lost connection. No ``websockets`` type or exception crosses this
module's API: failures become :class:`~realtime.ConnError`, the end of a connection a
:class:`Close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.frames import CloseCode
from websockets.protocol import State

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

__all__ = ["WebsocketsTransport"]

_LOST = Close(1006, "connection lost")
# Messages websockets may buffer before it stops reading the socket (TCP backpressure); the
# core has its own bounded buffer behind this one. As the httpx-ws transport's queue.
_MAX_QUEUE = 64
# Most messages one receive_many returns, so that one burst cannot delay the dispatcher long.
_MAX_BATCH = 256


# The most bytes one character takes in UTF-8.
_UTF8_MAX = 4


class _ClientConnection(ClientConnection):
    """websockets' client connection, except that once it failed the connection by itself
    (it sent a close frame for an error it found in what it read) it waits for the server to
    close the TCP connection at most ``close_timeout``: websockets waits without bound unless
    something is sent, and the core would never see the end."""

    _give_up: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        # CONNECTING too: the server's first frames may arrive with its 101 response.
        was_open = protocol.state is State.OPEN or protocol.state is State.CONNECTING
        super().data_received(data)
        if (
            was_open
            and protocol.state is State.CLOSING
            and protocol.close_rcvd is None
            and self._give_up is None
            and self.close_timeout is not None
        ):
            self._give_up = self.loop.call_later(self.close_timeout, self.transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._give_up is not None:
            self._give_up.cancel()
        super().connection_lost(exc)


class _WebsocketsChannel(Channel):
    def __init__(self, ws: ClientConnection, max_message_size: int | None = None) -> None:
        self._aborted = False
        self._ws = ws
        self._limit = max_message_size
        # websockets' message queue (its Assembler's deque of frames): read to know whether a
        # whole message is ready, never written.
        self._frames = ws.recv_messages.frames.queue
        self._ended: Close | None = None
        self.closer: asyncio.Task[None] | None = None

    def _end(self, exc: BaseException) -> Close:
        if self._ended is None:
            self._ended = self._close_of(exc)
        return self._ended

    def _close_of(self, exc: BaseException) -> Close:
        if not isinstance(exc, ConnectionClosed):
            return _LOST
        sent, received = exc.sent, exc.rcvd
        if (
            sent is not None
            and self.closer is None
            and (received is None or not exc.rcvd_then_sent)
        ):
            # Our close frame came first and the core did not ask for it: websockets failed
            # the connection for something it read. Report why, not a lost connection.
            if sent.code == CloseCode.MESSAGE_TOO_BIG and self._limit is not None:
                return Close(1009, f"{too_big(self._limit).reason} ({sent.reason})")
            return Close(int(sent.code), sent.reason)
        if received is None:
            return _LOST
        return Close(int(received.code), received.reason)

    async def _too_big(self, limit: int) -> Close:
        # websockets let it through (it counts bytes against four times the limit): fail the
        # connection as it would have, with the exact count.
        close = too_big(limit)
        if self.closer is None and self._ws.protocol.state is State.OPEN:
            self.closer = asyncio.ensure_future(self._ws.close(close.code, close.reason))
            await asyncio.sleep(0)  # let it write the close frame
        self._ended = close
        return close

    async def receive(self) -> Received:
        if self._ended is not None:
            return self._ended
        try:
            item = await self._ws.recv()
        except (ConnectionClosed, WebSocketException, OSError) as exc:
            return self._end(exc)
        limit = self._limit
        if limit is not None and len(item) > limit:
            return await self._too_big(limit)
        return item

    async def receive_many(self) -> list[Received]:
        first = await self.receive()
        if self._ended is not None:
            return [first]
        out = [first]
        frames = self._frames
        recv = self._ws.recv
        limit = self._limit
        # A message whose first frame is final is complete: recv() returns it without waiting.
        while frames and frames[0].fin and len(out) < _MAX_BATCH:
            try:
                item = await recv()
            except (ConnectionClosed, WebSocketException, OSError) as exc:
                out.append(self._end(exc))
                break
            if limit is not None and len(item) > limit:
                out.append(await self._too_big(limit))
                break
            out.append(item)
        return out

    async def send_text(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except (WebSocketException, OSError):
            # Not chained: websockets' types stay out of our API (the core says how it ended).
            raise ConnError("cannot send: the WebSocket connection is closed") from None

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self._ws.send(data)
        except (WebSocketException, OSError):
            # Not chained: websockets' types stay out of our API (the core says how it ended).
            raise ConnError("cannot send: the WebSocket connection is closed") from None

    async def send_ping(self, data: bytes = b"") -> anyio.Event:
        try:
            waiter = await self._ws.ping(data)
        except ConcurrencyError as exc:
            raise ConnError("a ping with the same payload is already waiting") from exc
        except (WebSocketException, OSError):
            # Not chained: websockets' types stay out of our API (the core says how it ended).
            raise ConnError("cannot send: the WebSocket connection is closed") from None
        pong = anyio.Event()

        def answered(future: asyncio.Future[float]) -> None:
            # A connection lost before the pong fails the future: no pong then.
            if not future.cancelled() and future.exception() is None:
                pong.set()

        future = asyncio.ensure_future(waiter)
        future.add_done_callback(answered)
        return pong

    async def send_pong(self, data: bytes = b"") -> None:
        try:
            await self._ws.pong(data)
        except (WebSocketException, OSError):
            # Not chained: websockets' types stay out of our API (the core says how it ended).
            raise ConnError("cannot send: the WebSocket connection is closed") from None

    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        if self._ws.protocol.state is not State.OPEN or self.closer is not None:
            return  # closing or closed already: the peer's answer (or the loss) is coming
        # websockets' close() sends the frame at once, then waits for the end of the TCP
        # connection; that wait runs in its own task so that the answer arrives by receive().
        self.closer = asyncio.ensure_future(self._ws.close(code, reason))
        await asyncio.sleep(0)  # let it write the close frame before returning

    def abort(self) -> None:
        self._aborted = True

    async def release(self, close_timeout: float) -> None:
        """Finish the closing handshake (bounded, unless aborted), then drop the TCP connection."""
        ws = self._ws
        if self._aborted:
            if self.closer is not None:
                self.closer.cancel()
            ws.transport.abort()
            return
        closer = self.closer
        if closer is None and ws.protocol.state is not State.CLOSED:
            closer = self.closer = asyncio.ensure_future(ws.close())
        if closer is not None:
            with anyio.move_on_after(close_timeout):
                with contextlib.suppress(Exception):
                    await asyncio.shield(closer)
            if not closer.done():
                closer.cancel()
        if ws.protocol.state is not State.CLOSED or not ws.connection_lost_waiter.done():
            ws.transport.abort()


class WebsocketsTransport(Transport):
    """WebSocket over the network with the ``websockets`` library (asyncio only).

    Install with the ``websockets`` extra. Under trio, connecting raises
    :class:`~realtime.ConnError`: use :class:`HttpxWsTransport` there.

    Args:
        ssl: The ``ssl.SSLContext`` for ``wss://`` URLs (the system's trust store by default).
        **connect_options: More keyword arguments for ``websockets.asyncio.client.connect``
            (``proxy``, ``max_queue``, ``write_limit``, ...); they override this transport's
            own choices (no keepalive, ``max_size`` from ``max_message_size``, no
            compression).
    """

    def __init__(self, *, ssl: ssl.SSLContext | None = None, **connect_options: Any) -> None:
        self._ssl = ssl
        self._options = connect_options

    def __repr__(self) -> str:
        return "WebsocketsTransport()"

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: ConnectRequest) -> AsyncIterator[Channel]:
        _require_asyncio()
        try:
            ws = await self._handshake(request)
        except ConnError as exc:
            exc.mask(credentials(request.headers))
            raise
        channel = _WebsocketsChannel(ws, request.max_message_size)
        try:
            yield channel
        finally:
            with anyio.CancelScope(shield=True):
                await channel.release(request.close_timeout)

    async def _handshake(self, request: ConnectRequest) -> ClientConnection:
        url = _ws_url(request.url)
        where = host_port(url)
        timeout = request.connect_timeout
        limit = request.max_message_size
        options: dict[str, Any] = {
            "additional_headers": list(request.headers),
            "user_agent_header": None,  # the request's headers carry the User-Agent
            "compression": None,
            "open_timeout": timeout,
            "ping_interval": None,
            "close_timeout": request.close_timeout,
            "max_size": None if limit is None else limit * _UTF8_MAX,
            "max_queue": _MAX_QUEUE,
            "create_connection": _ClientConnection,
        }
        if self._ssl is not None and url.startswith("wss:"):
            options["ssl"] = self._ssl
        options.update(self._options)
        try:
            with anyio.fail_after(timeout + 1.0):  # websockets' open_timeout fires first
                return await _connect_once(url, **options)
        except TimeoutError as exc:
            raise ConnError(f"connect to {where} timed out after {timeout} s") from exc
        except InvalidStatus as exc:
            # Not chained: the exception holds the response, body and all, which may echo
            # the key; the ConnError keeps the status and the masked body.
            raise _refused(exc, credentials(request.headers)) from None
        except InvalidURI as exc:
            raise ConnError(f"cannot connect to {where}: invalid URL") from exc
        except InvalidHandshake as exc:
            raise ConnError(
                f"the server at {where} did not complete a WebSocket handshake: {exc}"
            ) from exc
        except WebSocketException as exc:
            raise ConnError(f"could not connect to {where}: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise _os_error(exc, where) from exc


def _require_asyncio() -> None:
    # websockets runs on asyncio's event loop; under trio (or anything else) there is none.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConnError(
            "WebsocketsTransport is asyncio-only and no asyncio event loop is running "
            "(trio?): use HttpxWsTransport, which runs on asyncio and trio"
        ) from None


def _refused(exc: InvalidStatus, secrets: tuple[str, ...]) -> ConnError:
    response = exc.response
    return upgrade_refused(
        response.status_code,
        bytes(response.body or b""),
        secrets=secrets,
        location=response.headers.get("Location"),
    )


class _connect_once(ws_connect):  # noqa: N801 - as websockets' own ``connect``
    """websockets' ``connect`` without redirects: it follows them, and strips only
    ``Authorization``, ``Cookie`` and ``Proxy-Authorization`` on a cross-origin one, so an
    ``api-key`` header would go to whatever host the redirect names."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


def _os_error(exc: OSError, where: str) -> ConnError:
    host = where.rsplit(":", 1)[0]
    if isinstance(exc, socket.gaierror):
        return ConnError(f"could not resolve host {host} (DNS lookup failed)")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnError(f"TLS handshake with {where} failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return ConnError(f"TLS handshake with {where} failed: {exc}")
    if (
        isinstance(exc, ConnectionRefusedError)
        or exc.errno == errno.ECONNREFUSED
        or "refused" in str(exc).lower()  # asyncio's "Multiple exceptions: ..." over addresses
    ):
        return ConnError(f"connection refused by {where}")
    return ConnError(f"could not connect to {where}: {type(exc).__name__}: {exc}")


def _ws_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))
