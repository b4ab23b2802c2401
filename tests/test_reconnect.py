"""Reconnection: retried closes, queued sends, restored session and history, final failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from realtime import Connection, ConnectionState, ConnError, ReconnectPolicy, SendQueueFullError
from realtime.client_events import user_message
from realtime.connection._reconnect import Restorer
from realtime.events import Closed, Reconnected, Reconnecting

from ._util import EventLog
from .conftest import Wire

S = ConnectionState
FAST = ReconnectPolicy(initial_delay=0.0, jitter=False)


@asynccontextmanager
async def reconnecting(
    wire: Wire, log: EventLog, policy: ReconnectPolicy, code: int, reason: str = ""
) -> AsyncIterator[Connection]:
    """A connection whose first link the fake closed with ``code``: it is reconnecting."""
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=policy) as conn:
            await log.wait_for("session.created")
            await wire.fake.close_connections(code, reason)
            await log.wait_for(Reconnecting)
            yield conn


def refuse_reconnects(wire: Wire, status: int, message: str) -> list[int]:
    """Serve the first connection; refuse every later handshake with ``status``. Returns the
    list of refusals, which grows as they happen."""
    refused: list[int] = []

    async def handler(socket: Any) -> None:
        if wire.fake.connections:
            refused.append(status)
            await socket.reject(status, json.dumps({"error": {"message": message}}).encode())
            return
        await wire.fake.handle(socket)

    wire.set_handler(handler)
    return refused


async def test_retryable_close_reconnects_and_iteration_goes_on(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=FAST) as conn:
            await log.wait_for("session.created")
            await wire.fake.close_connections(1011, "server error")
            notice = await log.wait_for(Reconnecting)
            await log.wait_for(Reconnected)
            assert conn.state is S.OPEN
            await log.wait_for(lambda e: log.types.count("session.created") == 2)
            types = []
            async for event in conn:
                types.append(event.type)
                if event.type == "session.created" and types.count("session.created") == 2:
                    break
    assert notice == Reconnecting(attempt=1, delay=0.0, close_code=1011)
    assert types == [
        "realtime.connected",
        "session.created",
        "realtime.reconnecting",
        "realtime.reconnected",
        "session.created",
    ]
    assert len(wire.fake.connections) == 2
    assert log.events[-1] == Closed(code=1000, reason="", clean=True)


@pytest.mark.parametrize("code", [1000, 1008, 3000, 4000])
async def test_final_closes_are_not_retried(wire: Wire, code: int) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=FAST) as conn:
            await log.wait_for("session.created")
            await wire.fake.close_connections(code, "")
            closed = await log.wait_for(Closed)
            assert conn.state is S.CLOSED
    assert closed.code == code
    assert "realtime.reconnecting" not in log.types
    assert len(wire.fake.connections) == 1


async def test_abrupt_loss_is_retried(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=FAST):
            await log.wait_for("session.created")
            await wire.fake.drop_connections()
            notice = await log.wait_for(Reconnecting)
            await log.wait_for(Reconnected)
    assert notice.close_code == 1006


async def test_sends_while_reconnecting_are_queued_and_flushed_in_order(wire: Wire) -> None:
    log = EventLog()
    gate = anyio.Event()
    policy = ReconnectPolicy(initial_delay=0.0, jitter=False, restore="session")

    async def gated(socket: Any) -> None:
        if len(wire.fake.connections) >= 1:
            await gate.wait()  # hold the second handshake until the test has queued
        await wire.fake.handle(socket)

    wire.set_handler(gated)
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=policy) as conn:
            await log.wait_for("session.created")
            await conn.send_message(
                {"type": "session.update", "session": {"type": "realtime", "instructions": "A"}}
            )
            await wire.fake.wait_received(1)
            await wire.fake.close_connections(1012, "restart")
            await log.wait_for(Reconnecting)
            assert conn.state is S.CONNECTING
            async with anyio.create_task_group() as tg:
                tg.start_soon(conn.send_message, {"type": "input_audio_buffer.clear"})
                await anyio.wait_all_tasks_blocked()
                tg.start_soon(conn.send_message, [{"type": "input_audio_buffer.commit"}])
                await anyio.wait_all_tasks_blocked()
                gate.set()
            # Both senders returned: their messages went out on the new connection.
            second = wire.fake.connections[1]
            await wire.fake.wait_received(4)  # 1 on the first connection, 3 on this one
            assert [e["type"] for e in second.received] == [
                "session.update",
                "input_audio_buffer.clear",
                "input_audio_buffer.commit",
            ]
            assert second.received[0]["session"]["instructions"] == "A"


async def test_history_is_replayed_on_the_new_session(wire: Wire) -> None:
    log = EventLog()
    policy = ReconnectPolicy(initial_delay=0.0, jitter=False, restore="history")
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=policy) as conn:
            await log.wait_for("session.created")
            await conn.send_message(user_message("What is 2+2?"))
            await conn.send_message({"type": "response.create"})
            await log.wait_for("response.done")
            await wire.fake.close_connections(1001, "going away")
            await log.wait_for(Reconnected)
            await log.wait_for(lambda e: log.types.count("conversation.item.added") >= 4)
    replayed = [e for e in wire.fake.connections[1].received]
    assert [e["type"] for e in replayed] == ["conversation.item.create"] * 2
    user, assistant = (e["item"] for e in replayed)
    assert user == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "What is 2+2?"}],
    }
    assert assistant["role"] == "assistant"
    assert assistant["content"][0]["type"] == "output_text"


async def test_giving_up_hands_back_unsent_messages(wire: Wire) -> None:
    log = EventLog()
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.0, jitter=False)
    refused = refuse_reconnects(wire, 503, "overloaded")
    message = {"type": "input_audio_buffer.clear", "event_id": "lost"}
    async with reconnecting(wire, log, policy, 1013, "try again later") as conn:
        with pytest.raises(ConnError) as info:
            await conn.send_message(message)
        closed = await log.wait_for(Closed)
        assert conn.state is S.CLOSED
    assert info.value.unsent == (message,)
    assert closed.unsent == (message,)
    assert closed.code == 1013 and not closed.clean
    assert refused == [503, 503]
    assert [e.attempt for e in log.events if isinstance(e, Reconnecting)] == [1, 2]


async def test_refused_for_good_stops_at_once(wire: Wire) -> None:
    log = EventLog()
    refused = refuse_reconnects(wire, 401, "bad key")
    async with reconnecting(wire, log, FAST, 1011):
        await log.wait_for(Closed)
    assert [e.attempt for e in log.events if isinstance(e, Reconnecting)] == [1]
    assert refused == [401]


async def test_queue_overflow_raises_at_the_send(wire: Wire) -> None:
    log = EventLog()
    gate = anyio.Event()
    policy = ReconnectPolicy(initial_delay=0.0, jitter=False, max_queued_bytes=100)

    async def gated(socket: Any) -> None:
        if wire.fake.connections:
            await gate.wait()
        await wire.fake.handle(socket)

    wire.set_handler(gated)
    big = {"type": "input_audio_buffer.append", "audio": "A" * 200}
    async with reconnecting(wire, log, policy, 1011) as conn:
        with pytest.raises(SendQueueFullError) as info:
            await conn.send_message(big)
        gate.set()
        await log.wait_for(Reconnected)
    assert info.value.unsent == (big,)
    assert wire.fake.connections[1].received == []


async def test_close_while_waiting_to_reconnect(wire: Wire) -> None:
    log = EventLog()
    policy = ReconnectPolicy(initial_delay=60.0, jitter=False)
    async with reconnecting(wire, log, policy, 1011) as conn:
        pass  # leaving closes it while it waits the 60 s to reconnect
    assert conn.state is S.CLOSED
    closed = log.events[-1]
    assert isinstance(closed, Closed) and closed.reason == "closed while reconnecting"


async def test_session_expiry_reconnects(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log, reconnect=FAST):
            await log.wait_for("session.created")
            wire.fake.expire_sessions_after(0)
            notice = await log.wait_for(Reconnecting)
            wire.fake.session_limit = None
    expired = next(e for e in log.events if e.type == "error")
    assert expired.error["code"] == "session_expired"
    assert notice.close_code == 1001


def test_policy_delays() -> None:
    policy = ReconnectPolicy(initial_delay=0.5, max_delay=3.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = ReconnectPolicy(initial_delay=1.0)
    assert all(0.5 <= jittered.delay(1) <= 1.0 for _ in range(50))


def test_restorer_merges_session_updates_and_tracks_items() -> None:
    restorer = Restorer("history")
    restorer.sent({"type": "session.update", "session": {"audio": {"output": {"voice": "a"}}}})
    restorer.sent({"type": "session.update", "session": {"audio": {"input": {"x": 1}}}})
    restorer.sent({"type": "response.create"})
    item = {"id": "i1", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    restorer.received({"type": "conversation.item.done", "item": item})
    restorer.received(
        {
            "type": "conversation.item.done",
            "item": {"id": "i2", "type": "message", "role": "user", "content": []},
        }
    )
    out = {"id": "i3", "type": "function_call_output", "call_id": "c", "output": "4"}
    restorer.received({"type": "conversation.item.done", "item": out})
    restorer.received({"type": "conversation.item.deleted", "item_id": "i3"})
    assert restorer.messages() == [
        {
            "type": "session.update",
            "session": {"audio": {"output": {"voice": "a"}, "input": {"x": 1}}},
        },
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        },
    ]
    assert Restorer(None).messages() == []
    session_only = Restorer("session")
    session_only.received({"type": "conversation.item.done", "item": item})
    assert session_only.messages() == []
