"""The Connection end to end, over every transport, against the fake server."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import realtime
from realtime import (
    BinaryFrame,
    BufferOverflowError,
    ConnectionState,
    ConnError,
    FrameEncodeError,
    InvalidFrameError,
    NotConnectedError,
    PingFrame,
    PongFrame,
    TextFrame,
)
from realtime.events import Closed, Connected, FrameError

from ._util import EventLog, PingSpy
from .conftest import Wire

S = ConnectionState
DELTA = (
    '{{"type":"response.output_text.delta","event_id":"e{n}","response_id":"r","item_id":"i",'
    '"output_index":0,"content_index":0,"delta":"{n}"}}'
)


async def wait_received(wire: Wire, count: int) -> list[dict[str, Any]]:
    """Wait until the fake has received ``count`` client events (it records as it reads)."""
    with anyio.fail_after(5):
        return await wire.fake.wait_received(count)


async def test_connect_opens_and_close_closes(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            assert conn.state is S.OPEN
            await log.wait_for("session.created")
        assert conn.state is S.CLOSED
    assert isinstance(log.events[0], Connected)
    assert log.types[:2] == ["realtime.connected", "session.created"]
    assert log.events[-1] == Closed(code=1000, reason="", clean=True)
    assert wire.fake.connections[0].closed == (1000, "")


async def test_await_form_and_async_with_await_form(wire: Wire) -> None:
    with anyio.fail_after(5):
        conn = await wire.connect()
        assert conn.state is S.OPEN
        await conn.close()
        await conn.close()  # idempotent
        assert conn.state is S.CLOSED
        async with await wire.connect() as again:
            assert again.state is S.OPEN
        assert again.state is S.CLOSED


async def test_dispatch_order_session_first_then_listeners(wire: Wire) -> None:
    calls: list[tuple[str, str]] = []
    done = EventLog()

    async def async_listener(event: Any) -> None:
        await anyio.lowlevel.checkpoint()
        calls.append(("async", event.type))

    with anyio.fail_after(5):
        async with wire.connect(session=lambda e: calls.append(("session", e.type))) as conn:
            conn.add_listener(lambda e: calls.append(("first", e.type)))
            conn.add_listener(async_listener)
            conn.add_listener(done)
            for n in range(3):
                await wire.fake.send_raw(DELTA.format(n=n))
            await done.wait_for(lambda e: getattr(e, "event_id", None) == "e2")
    order = [who for who, type_ in calls if type_ == "response.output_text.delta"]
    assert order == ["session", "first", "async"] * 3
    # Each listener saw each event exactly once, in wire order.
    seen = [e.event_id for e in done.events if e.type == "response.output_text.delta"]
    assert seen == ["e0", "e1", "e2"]


async def test_failing_listener_is_logged_and_delivery_goes_on(
    wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("listener bug")

    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=broken) as conn:
            conn.add_listener(broken)
            conn.add_listener(log)
            await wire.fake.send_raw(DELTA.format(n=1))
            await log.wait_for("response.output_text.delta")
            assert conn.state is S.OPEN
    failures = [r for r in caplog.records if "listener" in r.getMessage()]
    assert failures and all(r.levelno == logging.ERROR for r in failures)


async def test_remove_listener_is_idempotent(wire: Wire) -> None:
    removed = EventLog()
    kept = EventLog()
    with anyio.fail_after(5):
        async with wire.connect() as conn:
            conn.add_listener(removed)
            conn.add_listener(kept)
            conn.remove_listener(removed)
            conn.remove_listener(removed)
            conn.remove_listener(lambda e: None)
            await wire.fake.send_raw(DELTA.format(n=1))
            await kept.wait_for("response.output_text.delta")
    assert "response.output_text.delta" not in removed.types


async def test_send_message_one_and_many(wire: Wire) -> None:
    with anyio.fail_after(5):
        async with wire.connect() as conn:
            await conn.send_message({"type": "input_audio_buffer.clear", "event_id": "c1"})
            await conn.send_message(
                [{"type": "input_audio_buffer.clear"}, {"type": "input_audio_buffer.commit"}]
            )
            await wait_received(wire, 3)
    assert [e["type"] for e in wire.fake.received] == [
        "input_audio_buffer.clear",
        "input_audio_buffer.clear",
        "input_audio_buffer.commit",
    ]
    assert wire.fake.received[0]["event_id"] == "c1"


async def test_encode_failure_sends_nothing(wire: Wire) -> None:
    with anyio.fail_after(5):
        async with wire.connect() as conn:
            with pytest.raises(FrameEncodeError) as info:
                await conn.send_message(
                    [{"type": "input_audio_buffer.clear"}, {"type": "x", "v": float("nan")}]
                )
            assert info.value.index == 1
            with pytest.raises(FrameEncodeError):
                await conn.send_message("not a dict")  # type: ignore[arg-type]
            # A marker sent afterwards is the first thing the fake received.
            await conn.send_message({"type": "input_audio_buffer.commit"})
            await wait_received(wire, 1)
            assert conn.state is S.OPEN
    assert [e["type"] for e in wire.fake.received] == ["input_audio_buffer.commit"]


async def test_send_after_close_raises_not_connected(wire: Wire) -> None:
    with anyio.fail_after(5):
        async with wire.connect() as conn:
            pass
    with pytest.raises(NotConnectedError) as info:
        await conn.send_message({"type": "response.create"})
    assert info.value.connection_state is S.CLOSED
    with pytest.raises(NotConnectedError):
        await conn.send_frame(TextFrame("{}"))


async def test_send_frames(wire: Wire) -> None:
    with anyio.fail_after(5):
        async with wire.connect() as conn:
            await conn.send_frame(PingFrame(b"hello"))
            await conn.send_frame(PongFrame(b"unsolicited"))
            await conn.send_frame(BinaryFrame(b"\x00"))
            await conn.send_frame(TextFrame('{"type":"input_audio_buffer.clear"}'))
            with pytest.raises(InvalidFrameError):
                await conn.send_frame(PingFrame(b"x" * 126))
            await wait_received(wire, 1)
            assert conn.state is S.OPEN
    assert wire.fake.received == [{"type": "input_audio_buffer.clear"}]


async def test_iteration_starts_from_the_first_event_and_ends_at_close(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            await wire.fake.send_raw(DELTA.format(n=1))
            await log.wait_for("response.output_text.delta")
            # Iteration starts late, yet begins at the very first event.
            types = []
            async for event in conn:
                types.append(event.type)
                if event.type == "response.output_text.delta":
                    await wire.fake.close_connections(4000, "custom")
            assert conn.state is S.CLOSED
    assert types == [
        "realtime.connected",
        "session.created",
        "response.output_text.delta",
        "realtime.closed",
    ]


async def test_iteration_overflow_is_reported_not_hidden(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log, event_buffer=3) as conn:
            for n in range(4):
                await wire.fake.send_raw(DELTA.format(n=n))
            await log.wait_for(lambda e: getattr(e, "event_id", None) == "e3")
            first = [await conn.__anext__() for _ in range(3)]
            with pytest.raises(BufferOverflowError) as info:
                await conn.__anext__()
            # connected, session.created, e0 kept; e1..e3 dropped for the iterator only.
            assert [e.type for e in first][:2] == ["realtime.connected", "session.created"]
            assert info.value.dropped == 3
            await wire.fake.send_raw(DELTA.format(n=4))
            after = await conn.__anext__()
            assert after.event_id == "e4"
    assert len([e for e in log.events if e.type == "response.output_text.delta"]) == 5


async def test_bad_frames_never_close_the_connection(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            await wire.fake.send_raw("not json")
            await wire.fake.send_raw("[]")
            await wire.fake.send_raw('{"type":"brand.new.event","x":1}')
            await wire.fake.send_raw(DELTA.format(n=1))
            await log.wait_for("response.output_text.delta")
            assert conn.state is S.OPEN
    errors = [e for e in log.events if isinstance(e, FrameError)]
    assert [e.raw for e in errors] == ["not json", "[]"]
    unknown = next(e for e in log.events if e.type == "brand.new.event")
    assert isinstance(unknown, realtime.events.UnknownEvent)
    assert unknown.to_dict() == {"type": "brand.new.event", "x": 1}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000, ""),
        (1001, "going away"),
        (1011, "oops"),
        (3000, "invalid_request_error.invalid_api_key"),
        (4000, "custom"),
    ],
)
async def test_server_close_codes(wire: Wire, code: int, reason: str) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            await log.wait_for("session.created")
            await wire.fake.close_connections(code, reason)
            closed = await log.wait_for(Closed)
            assert conn.state is S.CLOSED
    assert closed == Closed(code=code, reason=reason, clean=True)
    assert type(closed.code) is int
    assert log.types.count("realtime.closed") == 1


async def test_abrupt_loss_is_1006(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            await log.wait_for("session.created")
            await wire.fake.drop_connections()
            closed = await log.wait_for(Closed)
            assert conn.state is S.CLOSED
            with pytest.raises(NotConnectedError):
                await conn.send_message({"type": "response.create"})
    assert closed.code == 1006 and not closed.clean


async def test_oversized_message_closes_with_1009(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(5):
        async with wire.connect(wire.config(max_message_size=2000), session=log):
            await wire.fake.send_raw(json.dumps({"type": "big", "pad": "x" * 3000}))
            closed = await log.wait_for(Closed)
    assert closed.code == 1009 and "max_message_size=2000" in closed.reason
    assert "big" not in log.types


async def test_keepalive_timeout_fails_the_connection(wire: Wire) -> None:
    log = EventLog()

    async def deaf(socket: Any) -> None:
        socket.answer_pings = False
        await wire.fake.handle(socket)

    wire.set_handler(deaf)
    config = wire.config(ping_interval=0.01, ping_timeout=0.05)
    with anyio.fail_after(5):
        async with wire.connect(config, session=log) as conn:
            closed = await log.wait_for(Closed)
            assert conn.state is S.CLOSED
    assert closed.code == 1011 and "keepalive" in closed.reason and not closed.clean


async def test_keepalive_with_answers_keeps_the_connection(wire: Wire) -> None:
    log = EventLog()
    spy = PingSpy(wire.transport)
    config = wire.config(ping_interval=0.001, ping_timeout=5)
    with anyio.fail_after(5):
        async with realtime.connect(config, transport=spy, session=log) as conn:
            await spy.answered_at_least(5)
            assert conn.state is S.OPEN
    assert log.types.count("realtime.closed") == 1
    assert log.events[-1] == Closed(code=1000, reason="", clean=True)


async def test_handshake_refused_raises_conn_error(wire: Wire) -> None:
    async def refuse(socket: Any) -> None:
        await socket.reject(403, b'{"error": {"message": "no access to model", "code": "nope"}}')

    wire.set_handler(refuse)
    with anyio.fail_after(5), pytest.raises(ConnError) as info:
        await wire.connect()
    assert info.value.status_code == 403
    assert info.value.error_code == "nope"
    assert "no access to model" in str(info.value)


async def test_connect_timeout(wire: Wire) -> None:
    async def silent(socket: Any) -> None:
        await anyio.sleep_forever()

    wire.set_handler(silent)
    with anyio.fail_after(5), pytest.raises(ConnError, match="timed out"):
        await wire.connect(wire.config(connect_timeout=0.05))


async def test_close_timeout_when_the_peer_never_answers(wire: Wire) -> None:
    if wire.kind != "memory":
        pytest.skip("the loopback server's reader task answers close frames by itself")
    log = EventLog()

    async def mute(socket: Any) -> None:
        await socket.accept()
        await anyio.sleep_forever()  # never reads, so never answers the close frame

    wire.set_handler(mute)
    with anyio.fail_after(5):
        async with wire.connect(wire.config(close_timeout=0.05), session=log) as conn:
            pass
        assert conn.state is S.CLOSED
    closed = log.events[-1]
    assert isinstance(closed, Closed) and not closed.clean and "0.05" in closed.reason


async def test_close_from_a_listener(wire: Wire) -> None:
    log = EventLog()
    holder: list[realtime.Connection] = []

    async def closer(event: Any) -> None:
        if event.type == "response.output_text.delta":
            await holder[0].close()

    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            holder.append(conn)
            conn.add_listener(closer)
            await wire.fake.send_raw(DELTA.format(n=1))
            await log.wait_for(Closed)
            assert conn.state is S.CLOSED


async def test_server_handler_failure_is_seen_as_1011(wire: Wire) -> None:
    log = EventLog()

    async def broken(socket: Any) -> None:
        await socket.accept()
        await socket.receive()
        raise RuntimeError("handler bug")

    wire.set_handler(broken)
    with anyio.fail_after(5):
        async with wire.connect(session=log) as conn:
            await conn.send_message({"type": "response.create"})
            closed = await log.wait_for(Closed)
    assert closed.code == 1011


async def test_cancelled_close_aborts_and_leaves_scopes_nested(wire: Wire) -> None:
    # Regression: a close interrupted by cancellation used to exit the task group inside a
    # shield scope entered after it, corrupting the cancel scope stack.
    stuck = anyio.Event()

    async def hang(event: Any) -> None:
        if event.type == "response.output_text.delta":
            stuck.set()
            await anyio.sleep_forever()

    with anyio.fail_after(5):
        with anyio.CancelScope() as scope:
            async with wire.connect(session=hang) as conn:
                await wire.fake.send_raw(DELTA.format(n=1))
                await stuck.wait()
                scope.cancel()
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert conn.state is S.CLOSED


# -- a refused session: the errors say why -------------------------------------------------


async def _refuse_session(socket: Any) -> None:
    await socket.accept()
    await socket.send_text(
        json.dumps(
            {
                "type": "error",
                "event_id": "event_1",
                "error": {
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                    "message": "Incorrect API key provided: sk-proj-abcdefghijklmnop",
                    "param": None,
                    "event_id": None,
                },
            }
        )
    )
    await socket.close(3000, "invalid_request_error.invalid_api_key")


async def test_a_send_after_a_refusal_says_why(wire: Wire) -> None:
    wire.set_handler(_refuse_session)
    log = EventLog()
    async with wire.connect(session=log) as conn:
        closed = await log.wait_for(Closed)
        assert closed.server_error["code"] == "invalid_api_key"
        assert "sk-proj-abcdefghijklmnop" not in repr(closed)
        with pytest.raises(realtime.NotConnectedError) as caught:
            await conn.send_message({"type": "response.create"})
    error = caught.value
    assert (error.close_code, error.close_reason) == (3000, "invalid_request_error.invalid_api_key")
    assert error.server_error_code == "invalid_api_key"
    text = str(error)
    assert "3000" in text and "invalid_api_key" in text and "Incorrect API key" in text
    assert "sk-proj-abcdefghijklmnop" not in text  # a key the server echoes is masked


async def test_a_send_racing_a_refusal_says_why(wire: Wire) -> None:
    # Sent at once after connect: the refusal may not have been read yet. Whether the send
    # is refused (NotConnectedError) or fails on the wire (ConnError), the error carries the
    # close and the server's error, and no transport library exception is chained to it.
    wire.set_handler(_refuse_session)
    error: realtime.NotConnectedError | realtime.ConnError | None = None
    async with wire.connect() as conn:
        for _ in range(1000):  # until the refusal lands
            try:
                await conn.send_message({"type": "input_audio_buffer.clear"})
            except (realtime.NotConnectedError, realtime.ConnError) as exc:
                error = exc
                break
    assert error is not None
    assert error.close_code == 3000
    assert error.server_error_code == "invalid_api_key"
    cause = error.__cause__
    while cause is not None:
        assert type(cause).__module__.startswith("realtime"), type(cause)
        cause = cause.__cause__


async def test_a_listener_added_right_after_connect_sees_session_created(wire: Wire) -> None:
    # Nothing is read after Connected until connect() has returned to its caller, so a
    # listener added first thing sees session.created (trio's randomized scheduling made
    # this a race: run it several times).
    for _ in range(10):
        log = EventLog()
        async with wire.connect() as conn:
            conn.add_listener(log)
            await log.wait_for("session.created")
        # (realtime.connected may be seen too: it was queued, not yet delivered)
        assert next(t for t in log.types if t != "realtime.connected") == "session.created"
