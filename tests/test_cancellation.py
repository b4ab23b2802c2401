"""Cancel scopes around every public call, at every phase of a connection's life.

The promise: a cancel scope around ``connect``, ``close``, ``send_message`` or ``async for``,
firing at any moment, leaves the caller's task and event loop intact, the transport closed,
the final ``Closed`` delivered and no task behind, in each of the three ways to connect.
Each scope is cancelled at a known phase, by waiting for that phase (never for time): the
peers are written by hand on raw sockets (``hostile.py``), or are in-memory handlers.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import anyio
import pytest
from anyio.abc import TaskGroup

import realtime
from fakes import FakeRealtimeServer
from realtime import ConnectionState, ConnError, NotConnectedError
from realtime.events import Closed
from realtime.transports import MemoryTransport, ServerSocket, Transport

from ._util import EventLog
from .hostile import IdlePeer, raw_peer

FORMS = ["async_with", "task_group", "bare"]


def live_tasks() -> int:
    """Tasks alive in this event loop (asyncio) or run (trio)."""
    if "trio" in sys.modules:
        import trio

        try:
            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            root = None
        if root is not None:

            def count(task: Any) -> int:
                return 1 + sum(
                    count(child)
                    for nursery in task.child_nurseries
                    for child in nursery.child_tasks
                )

            return count(root)
    import asyncio

    return len(asyncio.all_tasks())


async def quiet_tasks() -> int:
    """Tasks alive once every task is blocked (started tasks have run up to their wait)."""
    await anyio.wait_all_tasks_blocked()
    return live_tasks()


@pytest.fixture(params=["httpx_ws", "websockets"])
def network(request: pytest.FixtureRequest, anyio_backend: str) -> Callable[[], Transport]:
    kind = str(request.param)
    if kind == "websockets":
        if anyio_backend != "asyncio":
            pytest.skip("websockets transport is asyncio-only")
        from realtime.transports import WebsocketsTransport

        return WebsocketsTransport
    from realtime.transports import HttpxWsTransport

    return HttpxWsTransport


def config(url: str, **overrides: Any) -> realtime.ModelConfig:
    options: dict[str, Any] = {"api_key": "sk-test", "url": url}
    options.update(overrides)
    return realtime.ModelConfig(**options)


@asynccontextmanager
async def opened(form: str, call: Callable[..., Any]) -> AsyncIterator[realtime.Connection]:
    """Open a connection in one of the three forms and close it on the way out."""
    if form == "async_with":
        async with call() as conn:
            yield conn
    elif form == "task_group":
        async with anyio.create_task_group() as tg:
            conn = await call(task_group=tg)
            async with conn:
                yield conn
    else:
        conn = await call()
        async with conn:
            yield conn


async def cancel_when_blocked(scope: anyio.CancelScope) -> None:
    await anyio.wait_all_tasks_blocked()
    scope.cancel()


async def cancel_on(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


@dataclass
class Rig:
    """A peer written by hand, the transport that reaches it, the connection's listener and
    a task group to cancel from."""

    peer: IdlePeer
    transport: Transport
    log: EventLog
    tg: TaskGroup

    def connect(self, task_group: TaskGroup | None = None, **overrides: Any) -> Any:
        """``realtime.connect`` to the peer, in any of its forms (see :func:`opened`)."""
        return realtime.connect(
            config(self.peer.url, **overrides),
            transport=self.transport,
            session=self.log,
            task_group=task_group,
        )

    def assert_ended(self, conn: realtime.Connection) -> Closed:
        """The connection is CLOSED and its listener got the final ``Closed``."""
        assert conn.state is ConnectionState.CLOSED
        closed = self.log.events[-1]
        assert isinstance(closed, Closed)
        return closed


@asynccontextmanager
async def rigged(
    mode: Literal["silent", "deaf"], network: Callable[[], Transport]
) -> AsyncIterator[Rig]:
    """A :class:`Rig` around a ``raw_peer(mode)``; on the way out, the client's socket must be
    closed and no task of the connection left."""
    transport = network()
    async with raw_peer(mode) as peer, anyio.create_task_group() as tg:
        baseline = await quiet_tasks()
        yield Rig(peer, transport, EventLog(), tg)
        peer.drain()
        with anyio.fail_after(5):
            await peer.eof.wait()
        await transport.aclose()
        assert await quiet_tasks() == baseline, "a task of the connection was left behind"


# -- connect -------------------------------------------------------------------------------


async def test_move_on_after_around_a_connect_that_never_completes(
    network: Callable[[], Transport],
) -> None:
    # The report, as written: the server accepts TCP and never answers the upgrade.
    async with rigged("silent", network) as rig:
        with anyio.move_on_after(0.1) as scope:
            await rig.connect()
        assert scope.cancelled_caught


@pytest.mark.parametrize("form", FORMS)
async def test_cancel_during_the_handshake(form: str, network: Callable[[], Transport]) -> None:
    reached_body = False
    async with rigged("silent", network) as rig:
        with anyio.CancelScope() as scope:
            rig.tg.start_soon(cancel_on, rig.peer.request_seen, scope)
            async with opened(form, rig.connect):
                reached_body = True  # pragma: no cover - the handshake never completes
        assert scope.cancelled_caught and not reached_body


@pytest.mark.parametrize("form", FORMS)
async def test_cancel_while_iterating(form: str, network: Callable[[], Transport]) -> None:
    async with rigged("deaf", network) as rig:
        with anyio.CancelScope() as scope:
            async with opened(form, partial(rig.connect, ping_interval=None)) as conn:
                rig.tg.start_soon(cancel_when_blocked, scope)
                async for _ in conn:
                    pass
        assert scope.cancelled_caught
        rig.assert_ended(conn)


@pytest.mark.parametrize("form", FORMS)
async def test_cancel_while_closing(form: str, network: Callable[[], Transport]) -> None:
    # The peer never answers our close frame and close_timeout is long: only the caller's
    # scope ends the wait. The connection is aborted and still says so to its listeners.
    async with rigged("deaf", network) as rig:
        slow_close = partial(rig.connect, close_timeout=60, ping_interval=None)
        async with opened(form, slow_close) as conn:
            with anyio.CancelScope() as scope:
                rig.tg.start_soon(cancel_when_blocked, scope)
                await conn.close()
            assert scope.cancelled_caught
            assert not rig.assert_ended(conn).clean


async def test_cancel_while_leaving_async_with(network: Callable[[], Transport]) -> None:
    async with rigged("deaf", network) as rig:
        with anyio.CancelScope() as scope:
            async with rig.connect(close_timeout=60, ping_interval=None) as conn:
                rig.tg.start_soon(cancel_when_blocked, scope)  # fires in __aexit__'s close
        assert scope.cancelled_caught
        rig.assert_ended(conn)


# -- sending to a peer that stopped reading ------------------------------------------------


async def _fill(conn: realtime.Connection, sent: list[int]) -> None:
    """Send 64 KiB messages until the link gives up on us."""
    payload = "x" * 65536
    while True:
        await conn.send_message({"type": "input_audio_buffer.append", "audio": payload})
        sent.append(1)


async def test_a_stalled_send_fails_the_link_with_1011_and_hands_the_message_back(
    network: Callable[[], Transport],
) -> None:
    transport = network()
    log = EventLog()
    sent: list[int] = []
    async with raw_peer("deaf") as peer:
        cfg = config(peer.url, ping_interval=0.05, ping_timeout=0.3, close_timeout=0.5)
        async with realtime.connect(cfg, transport=transport, session=log) as conn:
            with pytest.raises(ConnError) as caught:
                await _fill(conn, sent)
            assert [m["type"] for m in caught.value.unsent] == ["input_audio_buffer.append"]
            closed = await log.wait_for(Closed)
            assert closed.code == 1011 and closed.reason.startswith("keepalive:")
            with pytest.raises(NotConnectedError):
                await conn.send_message({"type": "response.create"})
        assert sent  # the buffers took some before they filled
        peer.drain()
    await transport.aclose()


async def test_a_cancel_scope_around_a_stalled_send(network: Callable[[], Transport]) -> None:
    # The frame being written is never cut in half: the write finishes or the link fails
    # (bounded by ping_timeout); then the caller's cancellation goes on as usual. Which one
    # happens depends on the kernel's buffers (they may drain into the peer's while we wait).
    transport = network()
    log = EventLog()
    async with raw_peer("deaf") as peer, anyio.create_task_group() as tg:
        cfg = config(peer.url, ping_interval=None, ping_timeout=0.3, close_timeout=0.5)
        async with realtime.connect(cfg, transport=transport, session=log) as conn:
            with anyio.CancelScope() as scope:
                tg.start_soon(cancel_when_blocked, scope)
                await _fill(conn, [])
            assert scope.cancelled_caught
            if conn.state is not ConnectionState.OPEN:
                closed = await log.wait_for(Closed)
                assert closed.code == 1011
        assert isinstance(log.events[-1], Closed)
        peer.drain()
    await transport.aclose()


async def _deaf(socket: ServerSocket) -> None:
    await socket.accept()
    await anyio.sleep_forever()


def connect_to_deaf_memory(log: EventLog, **overrides: Any) -> Any:
    """Connect in memory to a server that accepts and never reads, through small buffers."""
    cfg = config("wss://api.openai.com/v1/realtime", **overrides)
    return realtime.connect(cfg, transport=MemoryTransport(_deaf, buffer_size=4), session=log)


async def test_a_cancel_scope_around_a_stalled_send_in_memory() -> None:
    log = EventLog()
    async with (
        anyio.create_task_group() as tg,
        connect_to_deaf_memory(log, ping_interval=None, ping_timeout=0.2) as conn,
    ):
        with anyio.CancelScope() as scope:
            tg.start_soon(cancel_when_blocked, scope)
            await _fill(conn, [])
        assert scope.cancelled_caught
        closed = await log.wait_for(Closed)
        assert closed.code == 1011 and "could not write" in closed.reason


async def test_keepalive_fires_while_a_send_is_stalled_in_memory() -> None:
    log = EventLog()
    async with connect_to_deaf_memory(log, ping_interval=0.05, ping_timeout=0.2) as conn:
        with pytest.raises(ConnError) as caught:
            await _fill(conn, [])
        assert len(caught.value.unsent) == 1
        closed = await log.wait_for(Closed)
        assert closed.code == 1011 and "keepalive" in closed.reason


# -- the three forms, and close() from anywhere --------------------------------------------


async def test_bare_connect_survives_scopes_opened_and_closed_around_it() -> None:
    # The second report: a scope opened after `await connect()` and closed before
    # `close()` corrupted the caller's scope stack when connect entered a task group.
    fake = FakeRealtimeServer()
    conn = await realtime.connect(
        config("wss://api.openai.com/v1/realtime"), transport=MemoryTransport(fake)
    )
    with anyio.move_on_after(10):
        await conn.send_message({"type": "response.create"})
    with anyio.CancelScope():
        await conn.close()
    assert conn.state is ConnectionState.CLOSED
    fake.check()


async def test_close_from_other_tasks_at_once() -> None:
    fake = FakeRealtimeServer()
    log = EventLog()
    conn = await realtime.connect(
        config("wss://api.openai.com/v1/realtime"), transport=MemoryTransport(fake), session=log
    )
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(conn.close)
    assert conn.state is ConnectionState.CLOSED
    assert [e for e in log.events if isinstance(e, Closed)] == [log.events[-1]]
    assert log.events[-1].code == 1000 and log.events[-1].clean
    await conn.close()  # idempotent


async def test_cancelling_the_callers_task_group_delivers_a_final_closed() -> None:
    fake = FakeRealtimeServer()
    log = EventLog()
    async with anyio.create_task_group() as tg:
        conn = await realtime.connect(
            config("wss://api.openai.com/v1/realtime"),
            transport=MemoryTransport(fake),
            session=log,
            task_group=tg,
        )
        await log.wait_for("session.created")
        tg.cancel_scope.cancel()
    assert conn.state is ConnectionState.CLOSED
    closed = log.events[-1]
    assert isinstance(closed, Closed) and not closed.clean
    with pytest.raises(NotConnectedError):
        await conn.send_message({"type": "response.create"})


async def test_async_for_ends_after_the_task_group_is_cancelled() -> None:
    fake = FakeRealtimeServer()
    log = EventLog()
    seen: list[str] = []

    async def iterate(conn: realtime.Connection) -> None:
        async for event in conn:
            seen.append(event.type)

    async with anyio.create_task_group() as outer, anyio.create_task_group() as tg:
        conn = await realtime.connect(
            config("wss://api.openai.com/v1/realtime"),
            transport=MemoryTransport(fake),
            session=log,
            task_group=tg,
        )
        outer.start_soon(iterate, conn)
        await log.wait_for("session.created")
        tg.cancel_scope.cancel()
    assert seen[:2] == ["realtime.connected", "session.created"]
    assert seen[-1] == "realtime.closed"


async def test_an_error_in_the_body_reaches_the_caller_as_itself() -> None:
    fake = FakeRealtimeServer()
    with pytest.raises(ValueError, match="app bug"):
        async with realtime.connect(
            config("wss://api.openai.com/v1/realtime"), transport=MemoryTransport(fake)
        ):
            raise ValueError("app bug")


async def test_a_refused_handshake_in_async_with_raises_conn_error_itself() -> None:
    async def refuse(socket: ServerSocket) -> None:
        await socket.reject(401, b'{"error": {"message": "no"}}')

    with pytest.raises(ConnError) as caught:
        async with realtime.connect(
            config("wss://api.openai.com/v1/realtime"), transport=MemoryTransport(refuse)
        ):
            pass  # pragma: no cover
    assert caught.value.status_code == 401
