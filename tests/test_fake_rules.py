"""Rules: answers chosen by what the user said (``fake.when``), and which answer wins."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest

from fakes import FakeRealtimeServer, FunctionCall, Text
from fakes._audio import pcm16_tone
from tests.fake_client import TEXT_SESSION, TOOL, Client, connect, user_text


def _text(done: list[dict[str, Any]]) -> str:
    output = done[-1]["response"]["output"][0]
    if output["type"] == "function_call":
        return f"call {output['name']}"
    return str(output["content"][0]["text"])


async def _ask(client: Client, text: str) -> str:
    await client.send(user_text(text))
    await client.send({"type": "response.create"})
    return _text(await client.until("response.done"))


async def _tool_output(client: Client, done_call: dict[str, Any], output: str) -> str:
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": done_call["call_id"],
                "output": output,
            },
        }
    )
    await client.send({"type": "response.create"})
    return _text(await client.until("response.done"))


async def test_contains_matches_the_latest_user_text_ignoring_case() -> None:
    fake = FakeRealtimeServer()
    fake.when(contains="WEATHER").reply_text("Sunny.")
    fake.when(contains="time").reply(Text("Noon."))
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            answers = [
                await _ask(client, "what's the weather?"),
                await _ask(client, "And the TIME?"),
                await _ask(client, "Weather again"),
                await _ask(client, "thanks"),
            ]
    assert answers == ["Sunny.", "Noon.", "Sunny.", "You said: thanks"]
    fake.check()  # rules without times are never "unused"


async def test_tool_output_of_answers_after_the_tool_ran() -> None:
    fake = FakeRealtimeServer()
    fake.when(contains="weather").reply_function_call("get_weather", {"city": "Oslo"})
    fake.when(tool_output_of="get_weather").reply_text("Here is the forecast.")
    fake.when(tool_output_of="other_tool").reply_text("never")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            await client.send(user_text("weather in Oslo?"))
            await client.send({"type": "response.create"})
            first = await client.until("response.done")
            call = next(e for e in first if e["type"] == "response.function_call_arguments.done")
            answer = await _tool_output(client, call, "rain")
    assert call["name"] == "get_weather"
    assert answer == "Here is the forecast."


async def test_contains_matches_the_transcript_of_user_audio() -> None:
    fake = FakeRealtimeServer()
    fake.transcribe("Book me a table for two")
    fake.when(contains="table").reply_text("Booked.")
    session = {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["text"],
            "audio": {
                "input": {
                    "transcription": {"model": "gpt-4o-transcribe"},
                    "turn_detection": None,
                }
            },
        },
    }
    audio = base64.b64encode(pcm16_tone(300, amplitude=8000)).decode()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(session)
            await client.until("session.updated")
            await client.send({"type": "input_audio_buffer.append", "audio": audio})
            await client.send({"type": "input_audio_buffer.commit"})
            await client.until("conversation.item.input_audio_transcription.completed")
            await client.send({"type": "response.create"})
            done = await client.until("response.done")
    assert _text(done) == "Booked."


async def test_precedence_queued_then_first_matching_rule_then_default() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("queued 1")
    fake.reply_text("queued 2")
    fake.when(contains="hello").reply_text("first rule")
    fake.when(contains="hello").reply_text("second rule (never: the first one matches)")
    fake.when(contains="bye", times=1).reply_text("bye rule")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            answers = [
                await _ask(client, "hello"),  # queued replies go first, even if a rule matches
                await _ask(client, "hello"),
                await _ask(client, "hello"),  # then the first matching rule, in the order added
                await _ask(client, "bye"),
                await _ask(client, "bye"),  # times=1 is used up: the default reply
            ]
    assert answers == ["queued 1", "queued 2", "first rule", "bye rule", "You said: bye"]
    fake.check()


async def test_times_counts_matches_and_strict_mode_reports_the_rest() -> None:
    fake = FakeRealtimeServer()
    rule = fake.when(contains="again", times=3).reply_text("once more")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            assert await _ask(client, "again") == "once more"
    assert rule.used == 1 and rule.live
    with pytest.raises(AssertionError) as info:
        fake.check()
    assert (
        "- when(contains='again', times=3).reply_text('once more')  (used 1 of 3)  (NEVER USED)"
        in str(info.value)
    )
    fake.check(strict=False)
    assert fake.check_report() == ([], ["when(contains='again', times=3).reply_text('once more')"])


async def test_a_rule_without_a_reply_is_a_failure_that_explains_itself() -> None:
    fake = FakeRealtimeServer()
    fake.when(contains="hi")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(user_text("hi"))
            await client.send({"type": "response.create"})
            close = await client.closed()
    error = next(e for e in client.events if e["type"] == "error")
    assert "has no reply" in error["error"]["message"]
    assert close.code == 1011 and "rule matched but has no reply" in close.reason
    with pytest.raises(AssertionError, match=r"when\(contains='hi'\).\(no reply\) matched"):
        fake.check()


async def test_rules_see_an_out_of_band_response_s_own_input() -> None:
    fake = FakeRealtimeServer()
    fake.when(contains="summarize").reply(Text("A summary."), FunctionCall("get_weather", {}))
    response = {
        "conversation": "none",
        "output_modalities": ["text"],
        "tools": [TOOL],
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Summarize this"}],
            }
        ],
    }
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create", "response": response})
            done = await client.until("response.done")
    assert [o["type"] for o in done[-1]["response"]["output"]] == ["message", "function_call"]


async def test_no_user_input_matches_no_contains_rule() -> None:
    fake = FakeRealtimeServer()
    fake.when(contains="x").reply_text("never")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            await client.send({"type": "response.create"})
            done = await client.until("response.done")
    assert _text(done) == "Hello from the fake Realtime server."


def test_when_needs_a_condition_and_sensible_times() -> None:
    fake = FakeRealtimeServer()
    with pytest.raises(TypeError, match=r"contains=\.\.\. or tool_output_of"):
        fake.when()
    with pytest.raises(ValueError, match="positive integer"):
        fake.when(contains="a", times=0)
    rule = fake.when(contains="a", tool_output_of="f", times=2).reply_audio(b"\0\0", "x")
    assert "contains='a', tool_output_of='f', times=2" in repr(rule)
    assert rule.reply_function_call("f", {}, call_id="c") is rule
