"""realtime.Session over every transport, against the fake server."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

import realtime
from tests.conftest import Wire


async def collect_until_done(s: realtime.Session, count: int = 1) -> list[Any]:
    events: list[Any] = []
    done = 0
    with anyio.fail_after(10):
        async for event in s:
            events.append(event)
            if isinstance(event, realtime.ResponseDone):
                done += 1
                if done == count:
                    break
    return events


def session(wire: Wire, **kwargs: Any) -> realtime.Session:
    kwargs.setdefault("output_modalities", ["text"])
    return realtime.Session(wire.config(), transport=wire.transport, **kwargs)


async def test_text_turn_streams_text_and_keeps_history(wire: Wire) -> None:
    async with session(wire, instructions="Be brief.") as s:
        assert s.session_state["instructions"] == "Be brief."
        await s.send_text("hi")
        events = await collect_until_done(s)
    text = "".join(e.delta for e in events if isinstance(e, realtime.TextDelta))
    assert text == "You said: hi"
    done = events[-1]
    assert isinstance(done, realtime.ResponseDone)
    assert done.status == "completed" and done.text == "You said: hi"
    assert done.usage["total_tokens"] > 0
    roles = [item.get("role") for item in s.history]
    assert roles == ["user", "assistant"]
    assert s.history[1]["content"][0]["text"] == "You said: hi"
    update = wire.fake.received[0]
    assert update["type"] == "session.update"
    assert update["session"]["output_modalities"] == ["text"]


async def test_iteration_ends_with_closed(wire: Wire) -> None:
    async with session(wire) as s:
        await wire.fake.close_connections(1000, "bye")
        with anyio.fail_after(10):
            events = [e async for e in s]
    assert isinstance(events[-1], realtime.Closed)
    assert events[-1].code == 1000


@realtime.tool
def add(a: int, b: int = 0) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


async def test_tool_call_round(wire: Wire) -> None:
    wire.fake.reply_function_call("add", {"a": 2, "b": 3})
    wire.fake.reply_text("Five.")
    async with session(wire, tools=[add]) as s:
        assert wire.fake.received[0]["session"]["tools"][0]["name"] == "add"
        await s.send_text("2+3?")
        events = await collect_until_done(s, 2)
    started = [e for e in events if isinstance(e, realtime.ToolCallStarted)]
    finished = [e for e in events if isinstance(e, realtime.ToolCallFinished)]
    assert [e.name for e in started] == ["add"]
    assert finished[0].output == "5" and finished[0].error is None
    outputs = [e["item"] for e in wire.fake.received if e["type"] == "conversation.item.create"]
    assert outputs[-1] == {
        "type": "function_call_output",
        "call_id": started[0].call_id,
        "output": "5",
    }
    assert isinstance(events[-1], realtime.ResponseDone) and events[-1].text == "Five."
    types = [item["type"] for item in s.history]
    assert types == ["message", "function_call", "function_call_output", "message"]


async def tool_round(
    wire: Wire, tool: realtime.Tool, arguments: Any, reply: str, **kwargs: Any
) -> tuple[realtime.ToolCallFinished, list[Any]]:
    """The model calls ``tool`` with ``arguments``, then says ``reply``: the call's
    ``ToolCallFinished`` and the session's events over both responses."""
    wire.fake.reply_function_call(tool.name, arguments)
    wire.fake.reply_text(reply)
    async with session(wire, tools=[tool], **kwargs) as s:
        await s.send_text("go")
        events = await collect_until_done(s, 2)
    finished = next(e for e in events if isinstance(e, realtime.ToolCallFinished))
    return finished, events


async def test_failing_tool_reports_the_error_to_the_model(wire: Wire) -> None:
    @realtime.tool
    async def explode() -> str:
        """Always fails."""
        raise ValueError("boom")

    finished, events = await tool_round(wire, explode, {}, "Sorry.")
    assert finished.error == "ValueError: boom"
    assert json.loads(finished.output) == {"error": "ValueError: boom"}
    assert isinstance(events[-1], realtime.ResponseDone) and events[-1].text == "Sorry."


async def test_slow_tool_times_out_and_the_session_goes_on(wire: Wire) -> None:
    @realtime.tool
    async def hang() -> str:
        """Never returns."""
        await anyio.Event().wait()
        return "unreachable"

    finished, _ = await tool_round(wire, hang, {}, "Timed out.", tool_timeout=0.05)
    assert finished.error is not None and "timed out" in finished.error


async def test_sync_tool_runs_in_a_thread(wire: Wire) -> None:
    finished, _ = await tool_round(wire, add, '{"a": 40, "b": 2}', "42")
    assert finished.output == "42"


async def test_response_create_is_serialised(wire: Wire) -> None:
    wire.fake.reply_text("one")
    wire.fake.reply_text("two")
    async with session(wire) as s:
        await s.send_text("x", respond=False)
        # Back to back: the second must wait for the first's response.done, or the server
        # refuses it with conversation_already_has_active_response.
        await s.create_response()
        await s.create_response()
        assert s.response_active
        events = await collect_until_done(s, 2)
        with anyio.fail_after(10):
            await s.wait_idle()
    assert not [e for e in events if isinstance(e, realtime.Error)]
    assert [e.text for e in events if isinstance(e, realtime.ResponseDone)] == ["one", "two"]
    creates = [i for i, e in enumerate(wire.fake.received) if e["type"] == "response.create"]
    assert len(creates) == 2


async def test_server_error_is_an_event_and_the_session_goes_on(wire: Wire) -> None:
    async with session(wire) as s:
        await s.connection.send_message({"type": "input_audio_buffer.commit"})
        with anyio.fail_after(10):
            event = await s.__anext__()
        assert isinstance(event, realtime.Error)
        assert event.code == "input_audio_buffer_commit_empty"
        await s.send_text("still there?")
        events = await collect_until_done(s)
    assert isinstance(events[-1], realtime.ResponseDone)


async def test_interrupt_cancels_and_truncates_at_what_was_played(wire: Wire) -> None:
    pcm = b"\x01\x00" * 24_000  # one second: ten 100 ms deltas
    wire.fake.reply_audio(pcm, "a long story", stall_after=4)  # deltas: T A T A
    async with session(wire, output_modalities=["audio"]) as s:
        await s.send_text("tell me a story")
        audio = 0
        with anyio.fail_after(10):
            async for event in s:
                if isinstance(event, realtime.AudioDelta):
                    audio += 1
                    if audio == 2:
                        break
        s.audio_played(120)
        interrupted = await s.interrupt()
        events = await collect_until_done(s)
        # The server handles client events in order: once the next response is done, the
        # truncation has been answered too.
        await s.send_text("go on")
        await collect_until_done(s)
    cut = next(item for item in s.history if item["id"] == interrupted.item_id)
    assert cut["content"][0]["transcript"] == ""
    assert interrupted.audio_end_ms == 120
    assert isinstance(events[0], realtime.Interrupted)
    done = events[-1]
    assert isinstance(done, realtime.ResponseDone) and done.status == "cancelled"
    sent_types = [e["type"] for e in wire.fake.received]
    assert "response.cancel" in sent_types
    truncate = next(e for e in wire.fake.received if e["type"] == "conversation.item.truncate")
    assert truncate["audio_end_ms"] == 120
    assert truncate["item_id"] == interrupted.item_id


async def test_rejected_configuration_raises_session_error(wire: Wire) -> None:
    s = session(wire, turn_detection={"type": "no_such_vad"})
    with anyio.fail_after(10), pytest.raises(realtime.SessionError, match="rejected"):
        async with s:
            pass


async def test_rejected_key_raises_session_error_naming_the_code(wire: Wire) -> None:
    wire.fake.api_key = "sk-the-right-key-1234"
    s = realtime.Session(wire.config(api_key="sk-a-wrong-key-5678"), transport=wire.transport)
    with anyio.fail_after(10), pytest.raises(realtime.SessionError, match="invalid_api_key"):
        async with s:
            pass
