"""The connection: its public API, and the one supervisor task it lives in.

A connection runs as **one supervisor task** (``Connection._run``) and, inside it, a task group
of its own with the dispatcher task (``_dispatch.py``) and, per link, the link's keepalive
(``_link.py``). The supervisor task itself is the reader: it opens each link through the
transport (so the transport's own background tasks live in one task from start to end), pumps
it, and on a recoverable close plans the next one (``_reconnect.py``).

Where the supervisor task runs is the caller's choice, never a scope entered by hand:

- ``async with connect(...)``: in a task group the ``async with`` statement itself enters and
  leaves (``_lifespan.py``);
- ``await connect(..., task_group=tg)``: in the caller's task group; cancelling it ends the
  connection with a final ``Closed``;
- ``await connect(...)``: as a detached task of the event loop (``_detached.py``).

``close()`` only asks and waits: it works from any task, any number of times, inside any cancel
scope. Whatever way the supervisor ends (closed, lost, aborted, cancelled), it settles the state,
hands back what was never sent, and delivers the final ``Closed`` (shielded, bounded by
``close_timeout``): no exception escapes it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import anyio

from .._config import ConnectRequest, ModelConfig, build_request, redacted_url
from .._errors import ConnError, NotConnectedError
from ..events import Closed, Event, Reconnected, parse_text
from ..events.translation import parse_text as parse_translation
from ..protocol._frames import BinaryFrame, Frame, PingFrame, TextFrame
from ..protocol._machine import Protocol, encode_messages
from ..protocol._state import ConnectionState
from ..transports._base import Transport
from ._dispatch import Dispatcher, Listener
from ._link import NOT_OPEN, Link
from ._reconnect import Reconnector, ReconnectPolicy

__all__ = ["Connection", "Listener"]

logger = logging.getLogger("realtime.connection")

_OPEN = ConnectionState.OPEN


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
        translation: bool = False,
    ) -> None:
        self.config = config
        self.model = model
        self.translation = translation
        self._transport = transport
        # A translation session's events are views like the realtime ones, outside the
        # realtime ``Event`` union: typed in realtime.events.translation.
        parse: Any = parse_translation if translation else parse_text
        self._protocol = Protocol(max_message_size=config.max_message_size, parse=parse)
        self._dispatcher = Dispatcher(session, event_buffer)
        self._reconnector = Reconnector(reconnect)
        self._link: Link | None = None
        # The current link's life (handshake and pump) or the wait before the next one.
        self._life_scope = anyio.CancelScope()
        # The supervisor's whole life: cancelled to abort.
        self._run_scope = anyio.CancelScope()
        self._opened = anyio.Event()  # the first handshake succeeded, or the connection ended
        self._returned = anyio.Event()  # connect() returned the connection to its caller
        self._handshake_error: ConnError | None = None
        self._reader_done = anyio.Event()
        self._close_requested = False
        self._ended = False  # no more links: queued senders are handed back, not kept

    # -- public state and listeners --------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The connection's :class:`~realtime.ConnectionState`."""
        return self._protocol.state

    def add_listener(self, listener: Listener) -> None:
        """Deliver every later event to ``listener`` too, after the session handler.

        Adding the same listener twice delivers each event to it twice.
        """
        self._dispatcher.add_listener(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop delivering to ``listener``. Idempotent: an unknown listener is ignored."""
        self._dispatcher.remove_listener(listener)

    # -- sending ---------------------------------------------------------------------------

    async def send_message(self, message: Mapping[str, Any] | list[Mapping[str, Any]]) -> None:
        """Send one client event, or a list of them as consecutive frames.

        All messages are encoded before any is sent, so a message that cannot be encoded
        sends nothing. Frames of one call are never interleaved with another call's, and a
        frame is never cut: a cancel scope firing mid-send stops between frames.

        With a reconnect policy, a send while the connection is between links (the drop
        detected, the next link not yet open) waits in the queue and returns once its
        messages went out on the next link.

        Raises:
            NotConnectedError: The connection is not OPEN (and no reconnect is possible).
            FrameEncodeError: A message is not a JSON object with a string ``type``, or holds a
                value JSON cannot represent. Nothing was sent.
            ConnError: The link failed mid-way (the transport failed, or the peer stopped
                reading for ``ping_timeout``); ``unsent`` holds the messages not written.
                Those before them left the socket: sent, fate unknown.
            SendQueueFullError: While reconnecting, the queue is full; nothing was queued.
        """
        link = self._link
        if link is not None and self._protocol.state is _OPEN:
            texts = encode_messages(message)
            written = await link.send_texts(texts)
            if written == len(texts):
                if self._reconnector.restorer is not None:
                    self._reconnector.sent(message if isinstance(message, list) else [message])
                return
            if written != NOT_OPEN:
                # A caller cancelled during the (shielded) write hears of its cancellation.
                await anyio.lowlevel.checkpoint_if_cancelled()
                messages = message if isinstance(message, list) else [message]
                unsent = tuple(dict(m) for m in messages[written:])
                raise await self._send_failed(link, unsent)
        if self._reconnector.may_retry(self._close_requested) and not self._ended:
            await self._enqueue(message)
            return
        raise self._not_connected()

    def _ending(self) -> tuple[int | None, str | None, dict[str, Any] | None]:
        """How the connection ended, for errors: close code, reason, the server's last error."""
        protocol = self._protocol
        closed = protocol.last_close if protocol.state is ConnectionState.CLOSED else None
        if closed is None:
            return None, None, protocol.last_error
        return closed.code, closed.reason, protocol.last_error

    def _not_connected(self) -> NotConnectedError:
        code, reason, server_error = self._ending()
        return NotConnectedError(
            self._protocol.state, close_code=code, close_reason=reason, server_error=server_error
        )

    async def _send_failed(self, link: Link, unsent: tuple[dict[str, Any], ...]) -> ConnError:
        """The error for a write the link could not finish, saying how the link ended.

        The reader may not have seen the peer's close yet when the write fails: wait for the
        link to end (bounded by ``close_timeout``) so that the error can carry its close code.
        """
        with anyio.move_on_after(self.config.close_timeout):
            await link.ended.wait()
        if not link.ended.is_set():
            # The socket takes no writes, yet the reader saw no end: end the link ourselves.
            link.fail(1006, f"transport failed: {link.error}")
        code, reason, server_error = self._ending()
        error = ConnError(
            str(link.error),
            unsent=unsent,
            close_code=code,
            close_reason=reason,
            server_error=server_error,
        )
        # Chained to our own error only: the transports keep their libraries' types out.
        error.__cause__ = link.error
        return error

    async def _enqueue(self, message: Mapping[str, Any] | list[Mapping[str, Any]]) -> None:
        """Hold messages until the next link is open; raise their fate if there is none."""
        texts = encode_messages(message)
        messages = tuple(dict(m) for m in (message if isinstance(message, list) else [message]))
        await anyio.lowlevel.checkpoint_if_cancelled()  # already cancelled: queue nothing
        pending = self._reconnector.enqueue(texts, messages)
        try:
            await pending.done.wait()
        except anyio.get_cancelled_exc_class():
            if pending.done.is_set() and pending.error is None:
                # It went out while the cancellation was on its way: say so. Cancellation is
                # level-triggered, so the caller's next checkpoint raises it.
                return
            # What was not written yet is withdrawn, never sent later (a group already partly
            # written is finished, so that no frame sequence is cut).
            self._reconnector.withdraw(pending)
            raise
        if pending.error is not None:
            raise pending.error

    async def send_frame(self, frame: Frame) -> None:
        """Send one raw WebSocket frame.

        Raises:
            NotConnectedError: The connection is not OPEN.
            InvalidFrameError: ``frame`` is not a valid frame to send.
            ConnError: The transport failed.
        """
        if self._protocol.state is not _OPEN:
            raise self._not_connected()
        self._protocol.check_frame(frame)
        link = self._link
        if link is None:
            raise self._not_connected()
        channel = link.channel
        if isinstance(frame, TextFrame):
            written = await link.send_one(channel.send_text, frame.text)
        elif isinstance(frame, BinaryFrame):
            written = await link.send_one(channel.send_bytes, bytes(frame.data))
        elif isinstance(frame, PingFrame):
            written = await link.send_one(channel.send_ping, bytes(frame.data))
        else:  # PongFrame: check_frame ruled out the rest
            written = await link.send_one(channel.send_pong, bytes(frame.data))
        if not written:
            if link.error is None:
                raise self._not_connected()
            raise await self._send_failed(link, ())

    # -- closing ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection: send close 1000, wait for the peer's close, then CLOSED.

        Waits at most ``config.close_timeout`` for the peer, then abandons the socket. Returns
        once every event, the final :class:`~realtime.events.Closed` included, was delivered
        (unless called from a listener, which cannot wait for its own delivery). Idempotent;
        may be called from any task, by several at once. If the wait is cancelled, the
        connection is aborted at once (the final ``Closed`` is still delivered) and the
        cancellation goes on.
        """
        try:
            await self._close_gracefully()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._abort()
            raise

    async def close(self) -> None:
        """The same as :meth:`aclose`: the name this method had first, kept as an alias.

        ``aclose`` is the one verb for ending things (``Connection``, ``Session``,
        ``Transport``), as in anyio and httpx.
        """
        await self.aclose()

    async def _close_gracefully(self) -> None:
        self._close_requested = True
        state = self._protocol.state
        if state is ConnectionState.CONNECTING or (
            self._reconnector.retrying and state is not _OPEN
        ):
            # Mid-handshake, or waiting to reconnect: there is no peer to say goodbye to.
            self._life_scope.cancel()
        link = self._link
        if self._protocol.send_close(1000, "") and link is not None:
            await link.send_close(1000, "")
        with anyio.move_on_after(self.config.close_timeout):
            await self._reader_done.wait()
        if not self._reader_done.is_set():
            self._protocol.close_timed_out(self.config.close_timeout)
            self._life_scope.cancel()
            await self._reader_done.wait()
        await self._delivered()

    async def _abort(self) -> None:
        """Stop the supervisor now; its final ``Closed`` says the connection was aborted."""
        self._run_scope.cancel()
        await self._delivered()

    async def _delivered(self) -> None:
        # A listener that closes cannot wait for the delivery it is part of.
        if anyio.get_current_task().id != self._dispatcher.delivering:
            await self._dispatcher.done.wait()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- iterating -------------------------------------------------------------------------

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> Event:
        """The next event, from the first of the connection on, until it is closed.

        Raises:
            BufferOverflowError: Events were dropped for the iterator because it fell more than
                ``event_buffer`` events behind; iteration can go on after it.
        """
        return await self._dispatcher.next_event()

    # -- opening ---------------------------------------------------------------------------

    async def _open(self, request: ConnectRequest, spawn: Callable[[], object]) -> None:
        """Start the supervisor with ``spawn`` and wait until the connection is OPEN.

        Raises:
            ConnError: The handshake failed or timed out.
        """
        spawn()
        try:
            with anyio.move_on_after(request.connect_timeout + 1.0) as waited:
                await self._opened.wait()
            if waited.cancelled_caught:  # the transport did not honour connect_timeout
                self._handshake_error = ConnError(
                    f"connect timed out after {request.connect_timeout} s"
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._abort()
            raise
        if self._handshake_error is not None:
            with anyio.CancelScope(shield=True):
                await self._abort()
            raise self._handshake_error
        # Set with no await before returning to the caller: whatever it does first (add a
        # listener, say) happens before the supervisor reads the next event.
        self._returned.set()

    # -- the supervisor task ---------------------------------------------------------------

    async def _run(self, request: ConnectRequest) -> None:
        """The connection's life, from the first handshake to the final ``Closed``."""
        try:
            with self._run_scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._dispatcher.run)
                    try:
                        await self._read(request)
                    finally:
                        # No more links. Set before the dispatcher is waited for: a listener
                        # calling close() waits for this, and the dispatcher for the listener.
                        self._reader_done.set()
                        self._dispatcher.end()
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish()

    async def _read(self, request: ConnectRequest) -> None:
        protocol = self._protocol
        reconnector = self._reconnector
        try:
            while True:
                await self._live(request)
                opened = self._opened.is_set()
                refused = self._handshake_error.status_code if self._handshake_error else None
                if opened:
                    self._handshake_error = None  # a failed retry's: connect() returned long ago
                plan = reconnector.plan(
                    protocol.pending_events(),
                    final=self._close_requested or not opened,
                    refused_status=refused,
                )
                if plan is None:
                    break
                protocol.reconnecting()
                # Listeners hear of the Reconnecting now. Not _flush: plan() watched the dead
                # link's last events already, and watching them again would reset the budget.
                await self._dispatcher.put(protocol.events_received())
                self._life_scope = anyio.CancelScope()  # close() cancels the wait
                with self._life_scope:
                    await anyio.sleep(plan.delay)
                    request = await build_request(
                        self.config, self.model, translation=self.translation
                    )
                if self._close_requested:
                    break
        except ConnError as exc:  # the key callable or URL failed on a retry
            logger.warning("reconnect abandoned: %s", exc)
        except Exception:  # pragma: no cover - a bug; never let it escape the supervisor
            logger.exception("reader failed")

    async def _live(self, request: ConnectRequest) -> None:
        """One link's life: handshake, restore, pump until closed."""
        protocol = self._protocol
        link: Link | None = None
        scope = self._life_scope = anyio.CancelScope()
        if self._close_requested:
            scope.cancel()
        with scope:
            try:
                async with self._transport.connect(request) as channel:
                    if protocol.state is not ConnectionState.CONNECTING:
                        return  # close() abandoned the handshake as it completed
                    link = Link(channel, protocol, self.config, scope)
                    try:
                        await self._use(link, request)
                    except BaseException:
                        # Failed, timed out or cancelled: leave without waiting for the peer.
                        channel.abort()
                        raise
            except Exception as exc:
                self._lost(exc)
        self._link = None
        if protocol.state is ConnectionState.CONNECTING:
            protocol.handshake_failed()
        elif protocol.state is not ConnectionState.CLOSED:
            protocol.fail(1006, "connection lost")
        if link is not None:
            link.ended.set()

    async def _use(self, link: Link, request: ConnectRequest) -> None:
        self._protocol.handshake_succeeded(redacted_url(request.url))
        self._reconnector.link_opened()
        if self._reconnector.retrying:
            await self._restore(link)
        self._link = link
        await self._flush()
        self._opened.set()
        # A listener added right after connect() returns sees every event after Connected:
        # nothing more is read until the caller has its connection (a trio scheduling order
        # could otherwise deliver session.created first).
        await self._returned.wait()
        await link.pump(self._flush)

    async def _restore(self, link: Link) -> None:
        """On a reconnect: announce it, restore the session, then write what was queued.

        Runs before the link is published, so new sends queue behind the old ones; the queue
        is drained until empty, and the link published with no await in between.

        Raises:
            ConnError: The link failed; what it wrote counts as sent, the rest stays queued.
        """
        protocol = self._protocol
        reconnector = self._reconnector
        protocol.events_received()  # the new Connected: Reconnected says it instead
        protocol.emit(Reconnected(attempt=reconnector.attempt))
        restore = reconnector.restorer.messages() if reconnector.restorer is not None else []
        if restore:
            texts = encode_messages(restore)
            if await link.send_texts(texts) != len(texts):
                raise link.error or ConnError("the connection closed while restoring")
        while (pending := reconnector.next_queued()) is not None:
            texts = pending.texts[pending.written :]
            written = await link.send_texts(texts)
            if written > 0:
                pending.written += written
            if written != len(texts):
                raise link.error or ConnError("the connection closed while sending the queue")
            reconnector.flushed(pending)
        reconnector.retrying = False

    def _lost(self, exc: Exception) -> None:
        if self._protocol.state is ConnectionState.CONNECTING:
            if self._reconnector.retrying:
                logger.warning("reconnect attempt %d failed: %s", self._reconnector.attempt, exc)
            if isinstance(exc, ConnError):
                self._handshake_error = exc
            else:
                error = ConnError(f"connect failed: {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                self._handshake_error = error
            return
        logger.warning("transport failed: %r", exc)
        self._protocol.fail(1006, f"transport failed: {type(exc).__name__}: {exc}")

    async def _flush(self) -> None:
        events = self._protocol.events_received()
        if events:
            if self._reconnector.policy is not None:
                self._reconnector.watch(events)
            await self._dispatcher.put(events)

    async def _finish(self) -> None:
        """Settle the end, whatever it was: state, unsent messages, the final ``Closed``."""
        protocol = self._protocol
        if protocol.state is ConnectionState.CONNECTING:
            protocol.handshake_failed()
            if self._handshake_error is None:
                self._handshake_error = ConnError("connection attempt was cancelled")
        elif protocol.state is not ConnectionState.CLOSED:
            protocol.fail(1006, "connection aborted")
        self._link = None
        self._ended = True
        final = protocol.events_received()
        reconnector = self._reconnector
        unsent = reconnector.fail_queue()
        if reconnector.retrying:
            # We were between links: say how it ended, with what was never sent.
            reconnector.retrying = False
            final.append(
                Closed(
                    code=reconnector.last_code or 1006,
                    reason="closed while reconnecting"
                    if self._close_requested
                    else "reconnect abandoned",
                    clean=False,
                    unsent=unsent,
                )
            )
        elif unsent and final and isinstance(final[-1], Closed):
            # Sent between the drop and the decision not to retry: handed back here too.
            final[-1] = dataclasses.replace(final[-1], unsent=unsent)
        self._reader_done.set()
        self._opened.set()
        await self._dispatcher.deliver_rest(final, self.config.close_timeout)
