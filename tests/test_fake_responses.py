"""Responses: the event sequences of the recordings, cancellation, concurrency rules."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import pytest

from fakes import DEFAULT_TEXT, FakeRealtimeServer
from tests._recordings import recording
from tests.fake_client import call_output, collapse_deltas, connect, refusal, types, user_text

TEXT_SESSION = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"]},
}


def _recorded(name: str, start: str) -> list[str]:
    """Server event types of a recording, from the first ``start`` event on."""
    events = [line for line in recording(name) if line["from"] == "server"]
    names = [e["event"]["type"] for e in events]
    return collapse_deltas(names[names.index(start) :])


async def test_text_reply_matches_the_recorded_sequence() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("Your name is Alice, and your favorite color is teal!")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            await client.until("session.updated")
            await client.send(user_text("What is my name?"))
            await client.send({"type": "response.create"})
            seen = await client.until("response.done")
    recorded = _recorded("test_openai_ws__test_message_history_seeding.jsonl", "response.created")
    assert collapse_deltas(types(seen))[2:] == recorded
    deltas = [e["delta"] for e in seen if e["type"] == "response.output_text.delta"]
    assert deltas[:3] == ["Your", " name", " is"]
    done = seen[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [
        {"type": "output_text", "text": "Your name is Alice, and your favorite color is teal!"}
    ]
    assert (
        done["usage"]["total_tokens"]
        == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    )
    user_item = seen[0]["item"]
    assistant_added = next(
        e for e in seen if e["type"] == "conversation.item.added" and e is not seen[0]
    )
    assert assistant_added["previous_item_id"] == user_item["id"]
    fake.check()


async def test_audio_reply_interleaves_transcript_and_audio() -> None:
    fake = FakeRealtimeServer()
    pcm = bytes(range(256)) * 30  # 7680 bytes = 160 ms at 24 kHz
    fake.reply_audio(pcm, transcript="Hi there!")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(user_text("Say a short greeting."))
            await client.send({"type": "response.create"})
            seen = await client.until("response.done")
            limits = await client.recv()
    recorded = _recorded("test_openai_ws__test_text_in_audio_out_turn.jsonl", "response.created")
    got = collapse_deltas(types(seen))[2:]
    # The recording has one transcript delta then audio; ours alternate transcript/audio.
    assert [t for t in got if "delta" not in t] == [t for t in recorded if "delta" not in t]
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in seen if e["type"] == "response.output_audio.delta"
    )
    assert audio == pcm
    transcript = "".join(
        e["delta"] for e in seen if e["type"] == "response.output_audio_transcript.delta"
    )
    assert transcript == "Hi there!"
    assert seen[-1]["response"]["output"][0]["content"] == [
        {"type": "output_audio", "transcript": "Hi there!"}
    ]
    assert limits["type"] == "rate_limits.updated"
    fake.check()


async def test_reply_text_in_an_audio_session_is_spoken() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("Hello")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            seen = await client.until("response.done")
    assert "response.output_text.delta" not in types(seen)
    assert "response.output_audio.delta" in types(seen)
    assert seen[-1]["response"]["output"][0]["content"][0]["transcript"] == "Hello"


async def test_function_call_round_trip_matches_the_recording() -> None:
    fake = FakeRealtimeServer()
    fake.reply_function_call("get_weather", {"city": "London"})
    fake.reply_text("It is foggy and 12 degrees in London.")
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Look up the weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["text"], "tools": [tool]},
                }
            )
            updated = await client.until("session.updated")
            assert updated[-1]["session"]["tools"] == [tool]
            await client.send(user_text("What is the weather in London?"))
            await client.send({"type": "response.create"})
            first = await client.until("response.done")
            done = next(e for e in first if e["type"] == "response.function_call_arguments.done")
            assert done["name"] == "get_weather"
            assert json.loads(done["arguments"]) == {"city": "London"}
            assert done["call_id"].startswith("call_")
            deltas = "".join(
                e["delta"] for e in first if e["type"] == "response.function_call_arguments.delta"
            )
            assert deltas == done["arguments"]
            await client.send(call_output(done["call_id"], "foggy, 12"))
            await client.send({"type": "response.create"})
            second = await client.until("response.done")
    recorded = _recorded("test_openai_ws__test_tool_call_round.jsonl", "response.created")
    first_types = collapse_deltas(types(first))[2:]
    assert first_types == recorded[: len(first_types)]
    assert types(second)[:2] == ["rate_limits.updated", "conversation.item.added"]
    assert second[1]["item"]["type"] == "function_call_output"
    assert second[1]["previous_item_id"] == done["item_id"]
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == (
        "It is foggy and 12 degrees in London."
    )
    fake.check()


async def test_default_reply_is_deterministic_and_documented() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            await client.send({"type": "response.create"})
            first = await client.until("response.done")
            await client.send(user_text("ping"))
            await client.send({"type": "response.create"})
            second = await client.until("response.done")
            await client.send(call_output("c1", "42"))
            await client.send({"type": "response.create"})
            third = await client.until("response.done")

    def text(events: list[dict[str, Any]]) -> str:
        return str(events[-1]["response"]["output"][0]["content"][0]["text"])

    assert text(first) == DEFAULT_TEXT == "Hello from the fake Realtime server."
    assert text(second) == "You said: ping"
    assert text(third) == "The tool returned: 42"


async def test_cancel_ends_the_response_as_cancelled() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("one two three four five six", stall_after=2)
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(TEXT_SESSION)
            await client.send({"type": "response.create"})
            seen = []
            while len([e for e in seen if e["type"] == "response.output_text.delta"]) < 2:
                seen.append(await client.recv())
            await client.send({"type": "response.create", "event_id": "second"})
            refused = await client.until("error")
            assert refused[-1]["error"]["code"] == "conversation_already_has_active_response"
            assert refused[-1]["error"]["event_id"] == "second"
            await client.send({"type": "response.cancel"})
            tail = await client.until("response.done")
            await client.until("rate_limits.updated")
            await client.send({"type": "response.cancel", "event_id": "again"})
            error = (await client.until("error"))[-1]["error"]
    assert types(tail) == [
        "response.output_text.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    assert tail[0]["text"] == "one two"
    response = tail[-1]["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert response["output"][0]["status"] == "incomplete"
    assert error["code"] == "response_cancel_not_active"
    assert error["event_id"] == "again"


async def test_out_of_band_response_with_its_own_input() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(user_text("in the conversation"))
            added = await client.until("conversation.item.done")
            await client.send(
                {
                    "type": "response.create",
                    "response": {
                        "conversation": "none",
                        "output_modalities": ["text"],
                        "metadata": {"topic": "classify"},
                        "input": [
                            {"type": "item_reference", "id": added[0]["item"]["id"]},
                            {
                                "type": "message",
                                "role": "user",
                                "content": [{"type": "input_text", "text": "out of band"}],
                            },
                        ],
                    },
                }
            )
            seen = await client.until("response.done")
            await client.send({"type": "conversation.item.retrieve", "item_id": "nope"})
            await client.until("error")
    assert "conversation.item.added" not in types(seen)
    response = seen[-1]["response"]
    assert response["conversation_id"] is None
    assert response["metadata"] == {"topic": "classify"}
    assert response["output"][0]["content"][0]["text"] == "You said: out of band"
    assert len(fake.connections[0].conversation.items) == 1


async def test_max_output_tokens_makes_the_response_incomplete() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("a long answer that goes on and on")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(
                {
                    "type": "response.create",
                    "response": {"output_modalities": ["text"], "max_output_tokens": 2},
                }
            )
            seen = await client.until("response.done")
    response = seen[-1]["response"]
    assert response["status"] == "incomplete"
    assert response["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert response["output"][0]["content"][0]["text"] == "a long a"
    assert response["output"][0]["status"] == "incomplete"


@pytest.mark.parametrize(
    ("response", "code", "param"),
    [
        ({"output_modalities": ["text", "audio"]}, "invalid_value", "response.output_modalities"),
        ({"conversation": "other"}, "invalid_value", "response.conversation"),
        ({"bogus": 1}, "unknown_parameter", "response.bogus"),
        ({"max_output_tokens": 0}, "invalid_value", "response.max_output_tokens"),
        (
            {"input": [{"type": "item_reference", "id": "x"}]},
            "invalid_value",
            "response.input[0].id",
        ),
        (
            {"audio": {"output": {"voice": ["alloy"]}}},
            "invalid_type",
            "response.audio.output.voice",
        ),
    ],
)
async def test_invalid_response_create(response: dict[str, Any], code: str, param: str) -> None:
    fake = FakeRealtimeServer()
    error = await refusal(fake, {"type": "response.create", "event_id": "r1", "response": response})
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "r1")
    assert fake.connections[0].runs == []


async def test_deltas_can_be_paced() -> None:
    fake = FakeRealtimeServer(delta_delay=0.001, realtime_audio=True)
    fake.reply_audio(b"\x00\x00" * 2400, transcript="hi")  # 100 ms
    with anyio.fail_after(5):
        async with connect(fake) as client:
            start = anyio.current_time()
            await client.send({"type": "response.create"})
            await client.until("response.done")
            assert anyio.current_time() - start >= 0.1
