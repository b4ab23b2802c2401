"""Delivery: the session handler, the listeners and the ``async for`` buffer.

The reader hands over batches of events through a bounded stream; one dispatcher task takes
them in wire order and delivers each event to the session handler, then to each listener in
the order added, sequentially, then to the iteration buffer. When the dispatcher falls behind
by ``_BATCHES_IN_FLIGHT`` batches the reader waits, so the server sees TCP backpressure and
nothing is dropped.

If the dispatcher task is cancelled (the connection aborted, the owner's task group
cancelled), the batches it had not delivered are kept, not lost: the supervisor delivers them
with the final ``Closed`` (:meth:`Dispatcher.deliver_rest`).
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable

import anyio

from .._errors import BufferOverflowError
from ..events import Event

__all__ = ["Dispatcher", "Listener"]

logger = logging.getLogger("realtime.connection")

Listener = Callable[[Event], object]
"""A session handler or listener: called with each event; an awaitable result is awaited."""

_BATCHES_IN_FLIGHT = 64


class _Gap:
    """Marks in the iteration buffer where events were dropped for the iterator."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 1


class Dispatcher:
    """Delivers events to the session handler, the listeners and the iterator.

    Args:
        session: The owner's handler, called first with every event.
        event_buffer: Events kept for ``async for`` while nobody iterates.
    """

    def __init__(self, session: Listener | None, event_buffer: int) -> None:
        self._session = session
        self._listeners: list[Listener] = []
        self._retarget()
        send, receive = anyio.create_memory_object_stream[list[Event]](_BATCHES_IN_FLIGHT)
        self._send = send
        self._receive = receive
        self._held: list[list[Event]] = []
        self._in_flight = 0  # batches handed to the dispatcher task and not yet delivered
        self._iter_limit = event_buffer
        self._iter_buffer: deque[Event | _Gap] = deque()
        self._iter_wakeup: anyio.Event | None = None
        self.delivering: int | None = None
        """The id of the task delivering right now: a listener calling ``close()`` must not
        wait for its own delivery to end."""
        self.done = anyio.Event()
        """Set once the last event (the final ``Closed``) was delivered."""

    # -- listeners -------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)
        self._retarget()

    def remove_listener(self, listener: Listener) -> None:
        try:
            self._listeners.remove(listener)
        except ValueError:
            return
        self._retarget()

    def _retarget(self) -> None:
        session = (self._session,) if self._session is not None else ()
        self._targets: tuple[Listener, ...] = (*session, *self._listeners)

    # -- the reader's side -----------------------------------------------------------------

    async def put(self, events: list[Event]) -> None:
        """Queue a batch for delivery; waits while the dispatcher is that far behind."""
        if not events:
            return
        if self._iter_wakeup is not None and not self._targets and not self._in_flight:
            # An iterator waits, nobody else to call, nothing ahead: it gets the batch from
            # the reader itself, one task hop less per event (wire order holds). Otherwise
            # the dispatcher task delivers, as always: a listener added just after connect()
            # still sees the events that were read while it was being added.
            for event in events:
                self._buffer_for_iteration(event)
            return
        self._in_flight += 1
        try:
            try:
                self._send.send_nowait(events)
            except anyio.WouldBlock:
                # Shielded: a cancel of the reader (close, keepalive) must not lose the batch.
                # A cancelled dispatcher closes the stream, which ends this wait.
                with anyio.CancelScope(shield=True):
                    await self._send.send(events)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._held.append(events)

    def end(self) -> None:
        """No more batches: the dispatcher task ends once it delivered those queued."""
        self._send.close()

    # -- the dispatcher's side -------------------------------------------------------------

    async def run(self) -> None:
        """The dispatcher task: deliver batches until :meth:`end`, or until cancelled."""
        me = anyio.get_current_task().id
        try:
            async for batch in self._receive:
                self.delivering = me
                await self._deliver(batch)
                self.delivering = None
                self._in_flight -= 1
        finally:
            # Cancelled: keep what was not delivered (a sender waiting on a full stream
            # included: receive_nowait takes its batch too), then release that sender.
            while True:
                try:
                    self._held.append(self._receive.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            self._receive.close()
            self.delivering = None

    async def deliver_rest(self, final: list[Event], patience: float) -> None:
        """Deliver what the dispatcher task left, then ``final``, from the calling task.

        Bounded by ``patience`` seconds: past it, the remaining events still reach the iteration
        buffer (so ``async for`` sees the final ``Closed``), but no more listener is called.
        Then iteration ends after the buffered events.
        """
        batches, self._held = self._held, []
        if final:
            batches.append(final)
        self.delivering = anyio.get_current_task().id
        try:
            with anyio.move_on_after(patience):
                while batches:
                    await self._deliver(batches[0])
                    batches.pop(0)
            for batch in batches:
                logger.warning("listeners too slow while closing: %d events skipped", len(batch))
                for event in batch:
                    self._buffer_for_iteration(event)
        finally:
            self.delivering = None
            self.done.set()
            self._wake_iterator()

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

    # -- iteration -------------------------------------------------------------------------

    async def next_event(self) -> Event:
        """The next buffered event; see ``Connection.__anext__``.

        Raises:
            BufferOverflowError: Events were dropped for the iterator.
            StopAsyncIteration: Every event was delivered and taken.
        """
        while True:
            if self._iter_buffer:
                item = self._iter_buffer.popleft()
                if isinstance(item, _Gap):
                    raise BufferOverflowError(item.count)
                return item
            if self.done.is_set():
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
        wakeup = self._iter_wakeup  # inlined _wake_iterator: this runs once per event
        if wakeup is not None:
            self._iter_wakeup = None
            wakeup.set()

    def _wake_iterator(self) -> None:
        wakeup = self._iter_wakeup
        if wakeup is not None:
            self._iter_wakeup = None
            wakeup.set()
