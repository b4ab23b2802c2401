"""Session answers when asked: send_text/send_audio ask for a response, and ``ask()``."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeConnection
from fakes._errors import error_event
from tests.conftest import Wire
from tests.test_session import add, collect_until_done, session

PCM = b"\x01\x00" * 4_800  # 200 ms of 24 kHz 16-bit mono


def creates(wire: Wire) -> int:
    return sum(1 for e in wire.fake.received if e["type"] == "response.create")


async def test_send_text_asks_for_a_response_by_default(wire: Wire) -> None:
    wire.fake.reply_text("Foggy.")
    async with session(wire) as s:
        await s.send_text("Weather in Paris?")
        events = await collect_until_done(s)
    done = events[-1]
    assert isinstance(done, realtime.ResponseDone) and done.text == "Foggy."
    assert creates(wire) == 1


async def test_send_text_respond_false_only_adds_the_message(wire: Wire) -> None:
    wire.fake.reply_text("Both seen.")
    async with session(wire) as s:
        await s.send_text("first", respond=False)
        done = await s.ask("second")
    assert done.text == "Both seen."
    assert creates(wire) == 1
    users = [i for i in s.history if i.get("role") == "user"]
    assert [u["content"][0]["text"] for u in users] == ["first", "second"]


async def test_send_audio_commit_without_vad_asks_for_a_response(wire: Wire) -> None:
    wire.fake.reply_text("Heard you.")
    async with session(wire, turn_detection=None) as s:
        await s.send_audio(PCM, commit=True)
        events = await collect_until_done(s)
    assert isinstance(events[-1], realtime.ResponseDone) and events[-1].text == "Heard you."
    types = [e["type"] for e in wire.fake.received]
    assert types[-2:] == ["input_audio_buffer.commit", "response.create"]


async def test_send_audio_respond_false_and_server_vad_leave_it_to_the_caller(
    wire: Wire,
) -> None:
    async with session(wire, turn_detection=None) as s:
        await s.send_audio(PCM, commit=True, respond=False)
        await s.ask("and this")
    assert creates(wire) == 1
    types = [e["type"] for e in wire.fake.received]
    assert types.index("input_audio_buffer.commit") < types.index("response.create")


async def test_send_audio_commit_with_server_vad_sends_no_response_create(wire: Wire) -> None:
    # With server VAD the server decides; the session must not ask on top of it.
    async with session(wire, turn_detection={"type": "server_vad"}) as s:
        await s.send_audio(PCM, commit=True)
        await s.ask("now answer")
    assert creates(wire) == 1


async def test_ask_runs_the_tool_round_and_returns_the_final_response(wire: Wire) -> None:
    wire.fake.reply_function_call("add", {"a": 2, "b": 3})
    wire.fake.reply_text("Five.")
    wire.fake.reply_text("Next.")
    async with session(wire, tools=[add]) as s:
        done = await s.ask("2+3?")
        assert done.text == "Five." and done.status == "completed"
        assert done.usage["total_tokens"] > 0
        assert done.output[0]["type"] == "message"
        outputs = [e["item"] for e in wire.fake.received if e["type"] == "conversation.item.create"]
        assert outputs[-1]["type"] == "function_call_output" and outputs[-1]["output"] == "5"
        # The turn's events were consumed: iteration starts with what comes after.
        await s.send_text("again")
        events = await collect_until_done(s)
    assert not [e for e in events if isinstance(e, (realtime.ToolCallStarted,))]
    assert isinstance(events[0], realtime.TextDelta)
    assert isinstance(events[-1], realtime.ResponseDone) and events[-1].text == "Next."


async def test_ask_keeps_earlier_events_for_the_iterator(wire: Wire) -> None:
    async with session(wire) as s:
        await s.connection.send_message({"type": "input_audio_buffer.commit"})  # an error
        await s.send_text("first")  # a response nobody reads yet
        second = await s.ask("second")
        events = await collect_until_done(s)
    assert second.text == "You said: second"
    assert isinstance(events[0], realtime.Error)
    assert events[0].code == "input_audio_buffer_commit_empty"
    assert isinstance(events[-1], realtime.ResponseDone)
    assert events[-1].text == "You said: first"


async def test_ask_without_tools_follow_up_returns_the_function_call_response(
    wire: Wire,
) -> None:
    wire.fake.reply_function_call("add", {"a": 1})
    async with session(wire, tools=[add], auto_respond_to_tools=False) as s:
        done = await s.ask("1?")
        with anyio.fail_after(10):
            await s.wait_idle()
    assert done.output[0]["type"] == "function_call"
    assert creates(wire) == 1


async def test_ask_raises_when_the_response_is_refused(wire: Wire) -> None:
    async def refuse(event: dict[str, Any], connection: FakeConnection) -> None:
        await connection.send_event(
            error_event(
                "invalid_request_error",
                "invalid_value",
                "No.",
                event_id=event.get("event_id"),
            )
        )

    wire.fake.on("response.create", refuse)
    async with session(wire) as s:
        refused = r"refused the response: invalid_value: No\."
        with anyio.fail_after(10), pytest.raises(realtime.SessionError, match=refused):
            await s.ask("hello?")
        assert not s.response_active


async def test_ask_raises_when_the_connection_closes_and_iteration_still_ends(
    wire: Wire,
) -> None:
    async def hang_up(event: dict[str, Any], connection: FakeConnection) -> None:
        await connection.close(1011, "gone")

    wire.fake.on("response.create", hang_up)
    async with session(wire) as s:
        with anyio.fail_after(10), pytest.raises(realtime.SessionError, match="1011 gone"):
            await s.ask("hello?")
        with anyio.fail_after(10):
            rest = [e async for e in s]
    assert isinstance(rest[-1], realtime.Closed) and rest[-1].code == 1011
