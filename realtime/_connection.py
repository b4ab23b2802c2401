"""The async driver: one connection's tasks around the sans-I/O :class:`Protocol`.

Three tasks run per connection, in a task group owned by the task that connected:

- the *reader* opens the transport's channel (so the transport's own background tasks live in
  one task from start to end), then drains it into the protocol without ever waiting on a
  listener: a slow listener cannot stall the transport's ping/pong handling;
- the *dispatcher* delivers events in wire order: the session handler first, then each
  listener in the order added, sequentially, each event to each exactly once, then to the
  ``async for`` buffer;
- the *keepalive* pings on an interval and fails the connection when no pong comes back.

Between reader and dispatcher sits a bounded buffer of event batches. When the dispatcher
falls behind by that much, the reader waits: the transport's socket buffers fill and the
server sees TCP backpressure. Nothing is dropped.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from anyio.abc import TaskGroup

from ._config import ConnectRequest, ModelConfig, build_request
from ._errors import BufferOverflowError, ConnError, NotConnectedError, SendQueueFullError
from ._frames import BinaryFrame, Frame, PingFrame, PongFrame, TextFrame
from ._protocol import Protocol, encode_messages
from ._reconnect import NO_RETRY_ERROR_CODES, ReconnectPolicy, Restorer
from ._state import ConnectionState
from .events import Closed, Event, Reconnected, Reconnecting, ServerEventBase
from .transports._base import Channel, Transport

__all__ = ["DEFAULT_MODEL", "Connection", "Listener", "connect"]

logger = logging.getLogger("realtime.connection")

DEFAULT_MODEL = "gpt-realtime"

Listener = Callable[[Event], object]
"""A session handler or listener: called with each event; an awaitable result is awaited."""

_BATCHES_IN_FLIGHT = 64


class _Gap:
    """Marks in the iteration buffer where events were dropped for the iterator."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 1


class _Queued:
    """Messages sent while reconnecting, and the sender waiting for their fate."""

    __slots__ = ("done", "error", "messages", "size", "texts")

    def __init__(self, texts: list[str], messages: tuple[dict[str, Any], ...]) -> None:
        self.texts = texts
        self.messages = messages
        self.size = sum(len(t) for t in texts)
        self.done = anyio.Event()
        self.error: ConnError | None = None


class Connection:
    """One Realtime connection. Create it with :func:`connect`.

    Attributes:
        config: The configuration it connected with.
        model: The model requested in the URL (``None`` when joining a call).
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        model: str | None,
        session: Listener | None,
        transport: Transport,
        event_buffer: int,
        reconnect: ReconnectPolicy | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self._session = session
        self._listeners: list[Listener] = []
        self._retarget()
        self._transport = transport
        self._protocol = Protocol(max_message_size=config.max_message_size)
        self._channel: Channel | None = None
        # No yield to the loop when the lock is free: a send then costs no task switch (the
        # transport still waits when its buffer is full, as a socket write does).
        self._send_lock = anyio.Lock(fast_acquire=True)
        batches_send, batches_recv = anyio.create_memory_object_stream[list[Event]](
            _BATCHES_IN_FLIGHT
        )
        self._batches_send = batches_send
        self._batches_recv = batches_recv
        self._iter_limit = event_buffer
        self._iter_buffer: deque[Event | _Gap] = deque()
        self._iter_wakeup: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        self._owner: int | None = None
        self._dispatcher_task: int | None = None
        self._reader_scope = anyio.CancelScope()
        self._dispatch_scope = anyio.CancelScope()
        self._reader_done = anyio.Event()
        self._dispatch_done = anyio.Event()
        self._handshake_done = anyio.Event()
        self._handshake_error: BaseException | None = None
        # Reconnection state (see _read): all of it is inert without a policy.
        self._policy = reconnect
        self._restorer = Restorer(reconnect.restore) if reconnect is not None else None
        self._attempt = 0
        self._retrying = False
        self._close_requested = False
        self._life_scope = anyio.CancelScope()
        self._queue: list[_Queued] = []
        self._queued_bytes = 0
        self._error_code: str | None = None
        self._last_code: int | None = None  # of the last connection's close, for the final one

    # -- public state and listeners --------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The connection's :class:`~realtime.ConnectionState`."""
        return self._protocol.state

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event to ``listener`` too, after the session handler.

        Adding the same listener twice delivers each event to it twice.
        """
        self._listeners.append(listener)
        self._retarget()

    def remove_listener(self, listener: Listener) -> None:
        """Stop delivering to ``listener``. Idempotent: an unknown listener is ignored."""
        try:
            self._listeners.remove(listener)
        except ValueError:
            return
        self._retarget()

    def _retarget(self) -> None:
        session = (self._session,) if self._session is not None else ()
        self._targets: tuple[Listener, ...] = (*session, *self._listeners)

    # -- sending ---------------------------------------------------------------------------

    async def send_message(self, message: Mapping[str, Any] | list[Mapping[str, Any]]) -> None:
        """Send one client event, or a list of them as consecutive frames.

        All messages are encoded before any is sent, so a message that cannot be encoded
        sends nothing. Frames of one call are never interleaved with another call's.

        Raises:
            NotConnectedError: The connection is not OPEN.
            FrameEncodeError: A message is not a JSON object with a string ``type``, or holds a
                value JSON cannot represent. Nothing was sent.
            ConnError: The transport failed mid-way; ``unsent`` holds the messages not sent.
        """
        if self._retrying and self._protocol.state is not ConnectionState.OPEN:
            await self._enqueue(message)
            return
        texts = self._protocol.encode(message)
        messages = message if isinstance(message, list) else [message]
        async with self._send_lock:
            channel = self._open_channel()
            for index, text in enumerate(texts):
                try:
                    await channel.send_text(text)
                except ConnError as exc:
                    unsent = tuple(dict(m) for m in messages[index:])
                    raise ConnError(str(exc), unsent=unsent) from exc
        if self._restorer is not None:
            for sent in messages:
                self._restorer.sent(sent)

    async def _enqueue(self, message: Mapping[str, Any] | list[Mapping[str, Any]]) -> None:
        """Hold messages until the reconnect succeeds; raise their fate if it fails."""
        assert self._policy is not None
        texts = encode_messages(message)
        messages = tuple(dict(m) for m in (message if isinstance(message, list) else [message]))
        queued = _Queued(texts, messages)
        if self._queued_bytes + queued.size > self._policy.max_queued_bytes:
            raise SendQueueFullError(self._policy.max_queued_bytes, messages)
        self._queue.append(queued)
        self._queued_bytes += queued.size
        await queued.done.wait()
        if queued.error is not None:
            raise queued.error

    async def send_frame(self, frame: Frame) -> None:
        """Send one raw WebSocket frame.

        Raises:
            NotConnectedError: The connection is not OPEN.
            InvalidFrameError: ``frame`` is not a valid frame to send.
            ConnError: The transport failed.
        """
        self._protocol.check_frame(frame)
        async with self._send_lock:
            channel = self._open_channel()
            if isinstance(frame, TextFrame):
                await channel.send_text(frame.text)
            elif isinstance(frame, BinaryFrame):
                await channel.send_bytes(bytes(frame.data))
            elif isinstance(frame, PingFrame):
                await channel.send_ping(bytes(frame.data))
            elif isinstance(frame, PongFrame):  # pragma: no branch - check_frame ruled out the rest
                await channel.send_pong(bytes(frame.data))

    def _open_channel(self) -> Channel:
        # Re-checked under the lock: the state may have changed while we waited for it.
        if self._protocol.state is not ConnectionState.OPEN or self._channel is None:
            raise NotConnectedError(self._protocol.state)
        return self._channel

    # -- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection: send close 1000, wait for the peer's close, then CLOSED.

        Waits at most ``config.close_timeout`` for the peer, then abandons the socket. Returns
        once every event, the final :class:`~realtime.events.Closed` included, was delivered
        (unless called from a listener, which cannot wait for its own dispatcher). Idempotent.
        Call it (or leave ``async with``) from the task that connected: that task owns the
        connection's task group. If the wait is cancelled, the connection is aborted at once
        and the cancellation goes on.
        """
        try:
            await self._close_gracefully()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._abort()
            # Outside the shield: the task group was entered before it, so it must be left
            # after it (cancel scopes nest). Its tasks are done, so leaving is immediate.
            if anyio.get_current_task().id == self._owner:
                await self._exit_task_group()
            raise

    async def _close_gracefully(self) -> None:
        self._close_requested = True
        if self._retrying and self._protocol.state is not ConnectionState.OPEN:
            # Waiting to reconnect, or mid-handshake: there is no peer to say goodbye to.
            self._life_scope.cancel()
        if self._protocol.send_close(1000, ""):
            with anyio.move_on_after(self.config.close_timeout):
                await self._send_close(1000, "")
        with anyio.move_on_after(self.config.close_timeout):
            await self._reader_done.wait()
        if not self._reader_done.is_set():
            self._protocol.close_timed_out(self.config.close_timeout)
            self._reader_scope.cancel()
            await self._reader_done.wait()
        current = anyio.get_current_task().id
        if current != self._dispatcher_task:
            await self._dispatch_done.wait()
        if current == self._owner:
            await self._exit_task_group()

    async def _abort(self) -> None:
        """Stop every task now, delivering nothing more; used when closing is interrupted."""
        self._protocol.fail(1006, "connection aborted")
        self._reader_scope.cancel()
        self._dispatch_scope.cancel()
        await self._reader_done.wait()
        await self._dispatch_done.wait()

    async def _send_close(self, code: int, reason: str) -> None:
        channel = self._channel
        if channel is None:
            return
        try:
            async with self._send_lock:
                await channel.send_close(code, reason)
        except ConnError:
            # The socket is already gone; the reader reports the loss as 1006.
            pass

    async def _exit_task_group(self) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            await tg.__aexit__(None, None, None)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- iterating -------------------------------------------------------------------------

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> Event:
        """The next event, from the first of the connection on, until it is closed.

        Raises:
            BufferOverflowError: Events were dropped for the iterator because it fell more than
                ``event_buffer`` events behind; iteration can go on after it.
        """
        while True:
            if self._iter_buffer:
                item = self._iter_buffer.popleft()
                if isinstance(item, _Gap):
                    raise BufferOverflowError(item.count)
                return item
            if self._dispatch_done.is_set():
                raise StopAsyncIteration
            wakeup = self._iter_wakeup = anyio.Event()
            await wakeup.wait()

    def _buffer_for_iteration(self, event: Event) -> None:
        buffer = self._iter_buffer
        if len(buffer) < self._iter_limit:
            buffer.append(event)
        elif buffer and isinstance(buffer[-1], _Gap):
            buffer[-1].count += 1
        else:
            buffer.append(_Gap())
        wakeup = self._iter_wakeup
        if wakeup is not None:
            self._iter_wakeup = None
            wakeup.set()

    # -- the tasks -------------------------------------------------------------------------

    async def _start(self, request: ConnectRequest) -> None:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._owner = anyio.get_current_task().id
        tg.start_soon(self._dispatch)
        tg.start_soon(self._read, request)
        with anyio.move_on_after(request.connect_timeout + 1.0):
            await self._handshake_done.wait()
        if not self._handshake_done.is_set():
            self._handshake_error = ConnError(
                f"connect timed out after {request.connect_timeout} s"
            )
            self._reader_scope.cancel()
        if self._handshake_error is not None:
            await self._reader_done.wait()
            await self._dispatch_done.wait()
            await self._exit_task_group()
            raise self._handshake_error

    async def _read(self, request: ConnectRequest) -> None:
        protocol = self._protocol
        try:
            with self._reader_scope:
                while True:
                    await self._live(request)
                    retry = self._plan_retry()
                    if retry is None:
                        break
                    _, delay = retry
                    # Listeners hear of the Reconnecting now, not later. Not _flush: the old
                    # connection's last events were watched in _plan_retry already, and
                    # watching them again would reset the retry budget it just spent.
                    await self._send_batch(protocol.events_received())
                    self._life_scope = anyio.CancelScope()  # close() cancels the wait
                    with self._life_scope:
                        await anyio.sleep(delay)
                        request = await build_request(self.config, self.model)
                    if self._close_requested:
                        break
        except ConnError as exc:  # the key callable or URL failed on a retry
            logger.warning("reconnect abandoned: %s", exc)
        except Exception:  # pragma: no cover - a bug; never let it cancel the owner's task
            logger.exception("reader failed")
        finally:
            if protocol.state is ConnectionState.CONNECTING:
                protocol.handshake_failed()
                if self._handshake_error is None:
                    self._handshake_error = ConnError("connection attempt was cancelled")
            elif protocol.state is not ConnectionState.CLOSED:
                protocol.fail(1006, "the transport ended without a close frame")
            self._channel = None
            final = protocol.events_received()
            if self._retrying:
                # We were between connections: say how it ended, with what was never sent.
                self._retrying = False
                unsent = self._fail_queue()
                final.append(
                    Closed(
                        code=self._last_code or 1006,
                        reason="reconnect abandoned"
                        if not self._close_requested
                        else "closed while reconnecting",
                        clean=False,
                        unsent=unsent,
                    )
                )
            with anyio.CancelScope(shield=True):
                await self._send_batch(final)
            self._batches_send.close()
            self._handshake_done.set()
            self._reader_done.set()

    async def _live(self, request: ConnectRequest) -> None:
        """One connection's life: handshake, restore, pump until closed."""
        protocol = self._protocol
        self._life_scope = anyio.CancelScope()
        self._error_code = None
        with self._life_scope:
            try:
                async with self._transport.connect(request) as channel:
                    async with self._send_lock:
                        self._channel = channel
                        protocol.handshake_succeeded(_redacted_url(request.url))
                        if self._retrying:
                            self._retrying = False
                            await self._restore(channel)
                    await self._flush()
                    self._handshake_done.set()
                    await self._pump(channel)
            except Exception as exc:
                self._lost(exc)
        if protocol.state is ConnectionState.CONNECTING:
            protocol.handshake_failed()
        elif protocol.state is not ConnectionState.CLOSED:
            protocol.fail(1006, "connection lost")
        self._channel = None

    async def _restore(self, channel: Channel) -> None:
        """On a reconnect: announce it, restore the session, then send what was queued."""
        self._protocol.events_received()  # the new Connected: Reconnected says it instead
        self._protocol.emit(Reconnected(attempt=self._attempt))
        restore = self._restorer.messages() if self._restorer is not None else []
        for text in encode_messages(list(restore)) if restore else ():
            await channel.send_text(text)
        queue, self._queue, self._queued_bytes = self._queue, [], 0
        for index, queued in enumerate(queue):
            try:
                for text in queued.texts:
                    await channel.send_text(text)
            except ConnError:
                # Lost again mid-flush: the rest waits for the next attempt, in order.
                self._queue = queue[index:] + self._queue
                self._queued_bytes = sum(q.size for q in self._queue)
                raise
            if self._restorer is not None:
                for message in queued.messages:
                    self._restorer.sent(message)
            queued.done.set()

    def _plan_retry(self) -> tuple[int, float] | None:
        """After a connection ended: ``(attempt, delay)`` to try again, or ``None`` to stop."""
        policy = self._policy
        events = self._protocol.pending_events()
        if policy is not None:
            # The dead connection's last batch (kept back by _pump) counts before deciding:
            # its server events, an error code among them, belong to that connection.
            self._watch(events)
        closed = events[-1] if events and isinstance(events[-1], Closed) else None
        if closed is not None:
            self._last_code = closed.code
        if policy is None or self._close_requested or not self._handshake_done.is_set():
            return None
        if closed is not None and not policy.retries_close(closed.code):
            return None
        if self._error_code in NO_RETRY_ERROR_CODES:
            return None
        if self._handshake_status_is_final():
            return None
        if self._attempt >= policy.max_attempts:
            return None
        self._attempt += 1
        delay = policy.delay(self._attempt)
        reconnecting = Reconnecting(
            attempt=self._attempt, delay=delay, close_code=closed.code if closed else None
        )
        if closed is not None:
            events[-1] = reconnecting
        else:
            events.append(reconnecting)
        self._retrying = True
        self._protocol.reconnecting()
        return self._attempt, delay

    def _handshake_status_is_final(self) -> bool:
        # A refused handshake that a retry cannot fix (bad key, no such model, forbidden).
        error = self._handshake_error
        status = error.status_code if isinstance(error, ConnError) else None
        self._handshake_error = None
        return status is not None and 400 <= status < 500 and status not in (408, 429)

    def _fail_queue(self) -> tuple[dict[str, Any], ...]:
        queue, self._queue, self._queued_bytes = self._queue, [], 0
        unsent: list[dict[str, Any]] = []
        for queued in queue:
            unsent.extend(queued.messages)
            queued.error = ConnError("reconnecting failed; not sent", unsent=queued.messages)
            queued.done.set()
        return tuple(unsent)

    def _lost(self, exc: Exception) -> None:
        if self._protocol.state is ConnectionState.CONNECTING:
            if self._retrying:
                logger.warning("reconnect attempt %d failed: %s", self._attempt, exc)
            if isinstance(exc, ConnError):
                self._handshake_error = exc
            else:
                error = ConnError(f"connect failed: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                self._handshake_error = error
            return
        logger.warning("transport failed: %r", exc)
        self._protocol.fail(1006, f"transport failed: {type(exc).__name__}: {exc}")

    async def _pump(self, channel: Channel) -> None:
        protocol = self._protocol
        keepalive = self.config.ping_interval
        async with anyio.create_task_group() as tg:
            if keepalive is not None:
                tg.start_soon(self._keepalive, channel, keepalive)
            while True:
                for item in await channel.receive_many():
                    if isinstance(item, str):
                        protocol.receive_text(item)
                    elif isinstance(item, bytes):
                        protocol.receive_bytes(item)
                    else:
                        protocol.receive_close(item.code, item.reason)
                pending = protocol.close_to_send()
                if pending is not None:
                    await self._send_close(*pending)
                if protocol.state is ConnectionState.CLOSED:
                    # The last batch stays with the protocol: the reader decides whether its
                    # Closed is final or becomes a Reconnecting.
                    tg.cancel_scope.cancel()
                    return
                await self._flush()

    async def _flush(self) -> None:
        events = self._protocol.events_received()
        if events:
            if self._policy is not None:
                self._watch(events)
            await self._send_batch(events)

    def _watch(self, events: list[Event]) -> None:
        """With a reconnect policy: track errors, restorable state, and the retry budget."""
        for event in events:
            if not isinstance(event, ServerEventBase):
                continue
            raw = event.raw
            # A real server event on this connection: the connection works, reset the budget.
            self._attempt = 0
            if raw.get("type") == "error":
                error = raw.get("error")
                code = error.get("code") if isinstance(error, dict) else None
                self._error_code = code if isinstance(code, str) else None
            if self._restorer is not None:
                self._restorer.received(raw)

    async def _send_batch(self, events: list[Event]) -> None:
        if not events:
            return
        try:
            try:
                self._batches_send.send_nowait(events)
            except anyio.WouldBlock:
                # Backpressure: the dispatcher is behind. Shielded so that a close or keepalive
                # cancel of the reader cannot lose this batch.
                with anyio.CancelScope(shield=True):
                    await self._batches_send.send(events)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            # The dispatcher was aborted: nobody is left to deliver to.
            pass

    async def _keepalive(self, channel: Channel, interval: float) -> None:
        timeout = self.config.ping_timeout
        while True:
            await anyio.sleep(interval)
            try:
                pong = await channel.send_ping(os.urandom(4))
            except ConnError:
                return
            with anyio.move_on_after(timeout):
                await pong.wait()
            if not pong.is_set():
                self._protocol.fail(1011, f"keepalive: no pong within {timeout} s")
                self._life_scope.cancel()
                return

    async def _dispatch(self) -> None:
        self._dispatcher_task = anyio.get_current_task().id
        try:
            with self._dispatch_scope:
                async with self._batches_recv:
                    async for batch in self._batches_recv:
                        await self._deliver(batch)
        finally:
            self._dispatch_done.set()
            wakeup = self._iter_wakeup
            if wakeup is not None:
                wakeup.set()

    async def _deliver(self, batch: list[Event]) -> None:
        # The hot path: one pass per batch, no per-event allocation. ``_targets`` is a tuple
        # rebuilt when listeners change, so a listener may add or remove listeners mid-batch.
        for event in batch:
            for target in self._targets:
                try:
                    result = target(event)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception(
                        "listener %r failed on %s; delivery goes on", target, event.type
                    )
            self._buffer_for_iteration(event)


def _redacted_url(url: str) -> str:
    # A URL may carry credentials in its userinfo; events must never show them.
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _ConnectCall:
    """What :func:`connect` returns: await it, or use it as an async context manager."""

    def __init__(self, opener: Callable[[], Awaitable[Connection]]) -> None:
        self._opener = opener
        self._connection: Connection | None = None

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._opener().__await__()

    async def __aenter__(self) -> Connection:
        self._connection = await self._opener()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            await self._connection.close()


def _default_transport() -> Transport:
    # The only place the core names a concrete transport, imported on first use so that
    # ``import realtime`` does not pull in httpx.
    from .transports import HttpxWsTransport

    return HttpxWsTransport()


def connect(
    config: ModelConfig | None = None,
    *,
    model: str | None = None,
    session: Listener | None = None,
    transport: Transport | None = None,
    event_buffer: int = 4096,
    reconnect: ReconnectPolicy | None = None,
) -> _ConnectCall:
    """Open a Realtime connection; returns once it is OPEN.

    Use ``async with realtime.connect(...) as conn:`` (or ``conn = await
    realtime.connect(...)`` and later ``await conn.close()`` from the same task).

    Args:
        config: Where and how to connect; defaults to ``ModelConfig()`` (the OpenAI endpoint,
            key from ``OPENAI_API_KEY``).
        model: The model for ``?model=``; defaults to ``"gpt-realtime"`` unless
            ``config.call_id`` is set.
        session: The owner's handler: receives every event before the listeners.
        transport: How to reach the server; defaults to :class:`HttpxWsTransport`.
        reconnect: Reconnect after a recoverable close (see :class:`ReconnectPolicy`); off
            by default.
        event_buffer: Events kept for ``async for`` while nobody iterates; beyond that the
            iterator reports a :class:`BufferOverflowError` in place of the missing events
            (listeners are not affected). 0 disables buffering for iteration.

    Raises:
        ConnError: The handshake failed (HTTP status and error body attached when the server
            answered), the URL or key is unusable, or the connect timed out.
    """
    config = config if config is not None else ModelConfig()
    if model is None and config.call_id is None:
        model = DEFAULT_MODEL

    async def open_connection() -> Connection:
        request = await build_request(config, model)
        connection = Connection(
            config,
            model=model,
            session=session,
            transport=transport if transport is not None else _default_transport(),
            event_buffer=max(0, event_buffer),
            reconnect=reconnect,
        )
        await connection._start(request)
        return connection

    return _ConnectCall(open_connection)
