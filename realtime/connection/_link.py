"""One link: a single transport session of a connection (one socket, from upgrade to close).

A :class:`Link` pumps what its channel receives into the sans-I/O protocol, pings on an
interval, and serialises writes. A connection with a reconnect policy goes through several
links; everything that outlives one (listeners, the send queue, the retry budget) lives above
it, in the connection.

Two rules keep a misbehaving peer from hurting the caller:

- A frame is written whole or not at all: the write runs in a shielded scope, so a caller's
  cancel scope firing mid-write cannot leave half a frame on the wire. The shield is bounded:
  a write stalled behind a peer that stopped reading fails the link with 1011, and the caller
  learns which messages were not written.
- The keepalive's clock starts when a ping is due, not when it could be written: waiting for
  the send lock behind a stalled sender counts against ``ping_timeout``. That is the bound of
  a stalled write (at most ``ping_interval + ping_timeout``); without keepalive each write has
  its own deadline of ``ping_timeout``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

from .._config import ModelConfig
from .._errors import ConnError
from ..protocol._machine import Protocol
from ..protocol._state import ConnectionState
from ..transports._base import Channel

__all__ = ["NOT_OPEN", "Link"]

_T = TypeVar("_T")

NOT_OPEN = -1
"""What :meth:`Link.send_texts` returns when the link was no longer open: nothing written."""


class Link:
    """One open transport session.

    Args:
        channel: The transport's open channel.
        protocol: The connection's state machine (shared by all its links).
        config: Timeouts and keepalive settings.
        scope: The cancel scope the link's reader runs in; cancelled when the link fails.
    """

    def __init__(
        self, channel: Channel, protocol: Protocol, config: ModelConfig, scope: anyio.CancelScope
    ) -> None:
        self.channel = channel
        self._protocol = protocol
        self._config = config
        self._scope = scope
        # No yield to the loop when the lock is free: a send then costs no task switch (the
        # transport still waits when its buffer is full, as a socket write does).
        self.lock = anyio.Lock(fast_acquire=True)
        self._writing: anyio.CancelScope | None = None
        self.error: ConnError | None = None
        """Why writing stopped: the transport's error, or the link's failure."""
        self.ended = anyio.Event()
        """Set once the link is over and its ``Closed`` recorded."""

    def fail(self, code: int, reason: str) -> None:
        """End the link now from our side: no closing handshake, the reader and writer stop."""
        self._protocol.fail(code, reason)
        if self.error is None:
            self.error = ConnError(reason)
        self.channel.abort()
        self._scope.cancel()
        if self._writing is not None:
            self._writing.cancel()

    # -- writing ---------------------------------------------------------------------------

    async def send_texts(self, texts: Sequence[str]) -> int:
        """Write ``texts`` in order as text frames; return how many were written.

        Returns :data:`NOT_OPEN` when the connection was not OPEN once the lock was held
        (nothing was written). A count below ``len(texts)`` means the link failed: ``error``
        says why; the frames counted left the socket, the others did not.
        """
        async with self.lock:
            if self.error is not None or self._protocol.state is not ConnectionState.OPEN:
                return NOT_OPEN
            for index, text in enumerate(texts):
                if index:
                    # Between frames (never inside one) a cancelled caller stops here.
                    await anyio.lowlevel.checkpoint_if_cancelled()
                if not await self._write(self.channel.send_text, text):
                    return index
        return len(texts)

    async def send_one(self, send: Callable[[_T], Awaitable[object]], data: _T) -> bool:
        """Write one raw frame with ``send`` (a channel method); whether it was written."""
        async with self.lock:
            if self.error is not None or self._protocol.state is not ConnectionState.OPEN:
                return False
            return await self._write(send, data)

    async def _write(self, send: Callable[[_T], Awaitable[object]], data: _T) -> bool:
        timeout = self._config.ping_timeout
        # With keepalive on, it bounds a stalled write (the ping waits for the lock this write
        # holds, and fails the link ping_timeout after it was due): no timer per write, which
        # costs as much as the rest of the shield. Without keepalive, the write has its own.
        deadline = math.inf
        if self._config.ping_interval is None:
            deadline = anyio.current_time() + timeout
        with anyio.CancelScope(shield=True, deadline=deadline) as scope:
            self._writing = scope
            try:
                await send(data)
            except ConnError as exc:
                self.error = exc
                return False
            finally:
                self._writing = None
        if scope.cancelled_caught:
            if self.error is None:  # the deadline, not fail(): the peer stopped reading
                self.fail(1011, f"keepalive: could not write within {timeout} s")
            return False
        return True

    async def send_close(self, code: int, reason: str) -> None:
        """Send a close frame (best effort, bounded by ``close_timeout``)."""
        with anyio.move_on_after(self._config.close_timeout):
            try:
                async with self.lock:
                    await self.channel.send_close(code, reason)
            except ConnError:
                # The socket is already gone; the reader reports the loss as 1006.
                pass

    # -- reading ---------------------------------------------------------------------------

    async def pump(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Feed received messages to the protocol until the connection is CLOSED.

        ``flush`` hands the events produced so far to the dispatcher; it is not called for
        the last batch, which the connection settles itself (a final ``Closed`` or a
        ``Reconnecting``).
        """
        protocol = self._protocol
        interval = self._config.ping_interval
        async with anyio.create_task_group() as tg:
            if interval is not None:
                tg.start_soon(self._keepalive, interval, self._config.ping_timeout)
            receive_many = self.channel.receive_many
            while True:
                for item in await receive_many():
                    if isinstance(item, str):
                        protocol.receive_text(item)
                    elif isinstance(item, bytes):
                        protocol.receive_bytes(item)
                    else:
                        protocol.receive_close(item.code, item.reason)
                pending = protocol.close_to_send()
                if pending is not None:
                    await self.send_close(*pending)
                if protocol.state is ConnectionState.CLOSED:
                    tg.cancel_scope.cancel()
                    return
                await flush()

    async def _keepalive(self, interval: float, patience: float) -> None:
        while True:
            await anyio.sleep(interval)
            # The clock starts now, when the ping is due: a stalled sender holding the lock
            # counts against the timeout like a late pong.
            with anyio.move_on_after(patience) as waited:
                try:
                    async with self.lock:
                        pong = await self.channel.send_ping(os.urandom(4))
                except ConnError:
                    return  # the socket is gone; the reader reports it
                await pong.wait()
            if waited.cancelled_caught:
                self.fail(1011, f"keepalive: no pong within {patience} s")
                return
