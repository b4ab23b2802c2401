"""At most once, also across reconnects: what left a socket is never written again, and a send
made while a dropped link is being torn down is queued for the next one, not refused.

A wrapping transport (``Gated``) holds a link's handshake or its teardown at a gate the test
opens, and can fail one write: the test then acts at an exact point of the link's life.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup

import realtime
from fakes import FakeRealtimeServer
from realtime import ConnectionState, ConnectRequest, ConnError, ReconnectPolicy
from realtime.events import Closed, Reconnected, Reconnecting
from realtime.transports import Channel, MemoryTransport, Transport

from ._util import EventLog

POLICY = ReconnectPolicy(initial_delay=0.0, jitter=False, max_attempts=3)


class Gated(Transport):
    """Wraps a transport; link ``n`` (from 1) can be held at its handshake or its teardown,
    and its ``k``-th text write can fail."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.links = 0
        self.hold_connect: dict[int, anyio.Event] = {}
        self.hold_exit: dict[int, anyio.Event] = {}
        self.fail_write: dict[int, int] = {}
        self.written: dict[int, list[str]] = {}  # per link: the event_ids written
        self.connecting = anyio.Event()
        self.exiting = anyio.Event()

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: ConnectRequest) -> AsyncIterator[Channel]:
        self.links += 1
        n = self.links
        if n in self.hold_connect:
            self.connecting.set()
            await self.hold_connect[n].wait()
        async with self.inner.connect(request) as channel:
            self.written[n] = []
            _spy_writes(channel, self.written[n], self.fail_write.get(n))
            try:
                yield channel
            finally:
                if n in self.hold_exit:
                    self.exiting.set()
                    with anyio.CancelScope(shield=True):
                        await self.hold_exit[n].wait()


def _spy_writes(channel: Channel, written: list[str], fail_nth: int | None) -> None:
    original = channel.send_text
    calls = 0

    async def send_text(text: str) -> None:
        nonlocal calls
        calls += 1
        if calls == fail_nth:
            raise ConnError("injected: the socket died during this write")
        await original(text)
        written.append(json.loads(text).get("event_id", ""))

    channel.send_text = send_text  # type: ignore[method-assign]


def config() -> realtime.ModelConfig:
    return realtime.ModelConfig(api_key="sk-test", ping_interval=None)


def ids(fake: FakeRealtimeServer, prefix: str) -> list[str]:
    return [e["event_id"] for e in fake.received if str(e.get("event_id", "")).startswith(prefix)]


def app_messages(n: int) -> list[dict[str, Any]]:
    return [{"type": "input_audio_buffer.clear", "event_id": f"app_{i}"} for i in range(n)]


def connected(
    transport: Transport, log: EventLog, policy: ReconnectPolicy = POLICY
) -> AbstractAsyncContextManager[realtime.Connection]:
    return realtime.connect(config(), transport=transport, session=log, reconnect=policy)


async def send_held_until(
    release: anyio.Event, conn: realtime.Connection, tg: TaskGroup, n: int
) -> None:
    """Send ``app_messages(n)`` from a task of ``tg``: the send must still be waiting once
    every task is blocked, and must return once ``release`` lets the held link go on."""
    returned = anyio.Event()

    async def send() -> None:
        await conn.send_message(app_messages(n))
        returned.set()

    tg.start_soon(send)
    await anyio.wait_all_tasks_blocked()
    assert not returned.is_set()  # queued, not refused and not written
    release.set()
    with anyio.fail_after(5):
        await returned.wait()


async def send_catching(conn: realtime.Connection, n: int, caught: list[ConnError]) -> None:
    """Send ``app_messages(n)``; a ``ConnError`` (which hands the messages back) is kept."""
    try:
        await conn.send_message(app_messages(n))
    except ConnError as exc:
        caught.append(exc)


async def test_a_queued_list_cut_by_a_drop_is_finished_not_resent() -> None:
    fake = FakeRealtimeServer()
    transport = Gated(MemoryTransport(fake))
    release = transport.hold_connect[2] = anyio.Event()
    transport.fail_write[2] = 2  # link 2 writes app_0, then dies writing app_1
    log = EventLog()
    async with connected(transport, log) as conn, anyio.create_task_group() as tg:
        await fake.close_connections(1011, "restart")
        await transport.connecting.wait()
        await send_held_until(release, conn, tg, 3)  # queued while reconnecting
        reconnected = [e for e in log.events if isinstance(e, Reconnected)]
        assert [e.attempt for e in reconnected] == [1, 2]
        assert transport.links == 3
    # app_0 left link 2's socket (sent, fate unknown): it is never written again.
    assert transport.written[2] == ["app_0"]
    assert transport.written[3] == ["app_1", "app_2"]
    assert ids(fake, "app_")[-2:] == ["app_1", "app_2"]


async def test_a_send_while_the_dropped_link_is_torn_down_is_queued() -> None:
    # The gap between "the link is CLOSED" and "a retry is planned": a send there used to
    # raise NotConnectedError although a reconnect was about to happen.
    fake = FakeRealtimeServer()
    transport = Gated(MemoryTransport(fake))
    release = transport.hold_exit[1] = anyio.Event()
    log = EventLog()
    async with connected(transport, log) as conn, anyio.create_task_group() as tg:
        await fake.close_connections(1011, "restart")
        await transport.exiting.wait()
        assert conn.state is ConnectionState.CLOSED
        assert not any(isinstance(e, Reconnecting) for e in log.events)
        await send_held_until(release, conn, tg, 1)
        assert isinstance(await log.wait_for(Reconnected), Reconnected)
    assert ids(fake, "app_") == ["app_0"]


async def test_a_send_in_the_gap_is_handed_back_when_no_retry_follows() -> None:
    fake = FakeRealtimeServer()
    transport = Gated(MemoryTransport(fake))
    release = transport.hold_exit[1] = anyio.Event()
    log = EventLog()
    caught: list[ConnError] = []
    async with connected(transport, log) as conn, anyio.create_task_group() as tg:
        await fake.close_connections(1000, "bye")  # a normal close: no retry
        await transport.exiting.wait()
        tg.start_soon(send_catching, conn, 1, caught)
        await anyio.wait_all_tasks_blocked()
        release.set()
        closed = await log.wait_for(Closed)
    assert [m["event_id"] for m in caught[0].unsent] == ["app_0"]
    assert [m["event_id"] for m in closed.unsent] == ["app_0"]
    assert ids(fake, "app_") == []


async def test_a_sender_cancelled_while_queued_withdraws_its_messages() -> None:
    fake = FakeRealtimeServer()
    transport = Gated(MemoryTransport(fake))
    release = transport.hold_connect[2] = anyio.Event()
    log = EventLog()
    async with connected(transport, log) as conn:
        await fake.close_connections(1011, "restart")
        await transport.connecting.wait()
        with anyio.move_on_after(0) as scope:
            await conn.send_message(app_messages(1))
        assert scope.cancelled_caught
        release.set()
        await log.wait_for(Reconnected)
        await conn.send_message({"type": "input_audio_buffer.clear", "event_id": "app_after"})
    assert ids(fake, "app_") == ["app_after"]


@pytest.mark.parametrize("cancel_after", ["connecting", "reconnecting_wait"])
async def test_close_while_reconnecting_hands_the_queue_back(cancel_after: str) -> None:
    fake = FakeRealtimeServer()
    transport = Gated(MemoryTransport(fake))
    transport.hold_connect[2] = anyio.Event()  # never released: close() must not wait for it
    policy = (
        POLICY
        if cancel_after == "connecting"
        else ReconnectPolicy(initial_delay=60, jitter=False, max_attempts=3)
    )
    log = EventLog()
    caught: list[ConnError] = []
    async with anyio.create_task_group() as tg:
        conn = await realtime.connect(
            config(), transport=transport, session=log, reconnect=policy, task_group=tg
        )
        await fake.close_connections(1011, "restart")
        await log.wait_for(Reconnecting)
        tg.start_soon(send_catching, conn, 1, caught)
        await anyio.wait_all_tasks_blocked()
        await conn.close()
    closed = log.events[-1]
    assert isinstance(closed, Closed) and closed.reason == "closed while reconnecting"
    assert [m["event_id"] for m in closed.unsent] == ["app_0"]
    assert [m["event_id"] for m in caught[0].unsent] == ["app_0"]
