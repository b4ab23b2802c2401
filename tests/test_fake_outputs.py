"""Several outputs in one response: ``fake.reply(*outputs)`` streamed as the real service streams
a message and a function call (recording ``test_parity_ws__test_text_tool_round_parity``).

Every event is validated strictly against the official types by the suite's autouse fixture.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import pytest

import fakes
from fakes import Audio, FakeRealtimeServer, FunctionCall, Text
from tests._recordings import recording
from tests.fake_client import TOOL, call_output, collapse_deltas, connect, types, user_text

RECORDING = "test_parity_ws__test_text_tool_round_parity-openai-current.jsonl"
TOOL_TIME = {**TOOL, "name": "get_time", "description": "The local time of a city."}


def _session(modalities: list[str], tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": modalities, "tools": tools},
    }


async def _one_response(
    fake: FakeRealtimeServer,
    *,
    modalities: list[str] | None = None,
    tools: list[dict[str, Any]] | None = None,
    response: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Events from ``response.created`` to ``response.done`` of one user turn."""
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(_session(modalities or ["text"], [TOOL] if tools is None else tools))
            await client.until("session.updated")
            await client.send(user_text("What is the weather in London?"))
            await client.until("conversation.item.done")
            event: dict[str, Any] = {"type": "response.create"}
            if response is not None:
                event["response"] = response
            await client.send(event)
            return await client.until("response.done")


async def test_a_message_and_a_call_stream_exactly_like_the_recording() -> None:
    fake = FakeRealtimeServer()
    fake.reply(
        Text("I'll check the current weather in London for you."),
        FunctionCall("get_weather", {"city": "London"}),
    )
    seen = await _one_response(fake)
    names = [r["event"]["type"] for r in recording(RECORDING) if r["from"] == "server"]
    first = names.index("response.created")
    expected = collapse_deltas(names[first : names.index("response.done") + 1])
    assert collapse_deltas(types(seen)) == expected
    # The second item is added while the first is still open: its done events come after the
    # call's arguments, and each item's done events in output order.
    by_type = [(e["type"], e.get("output_index")) for e in seen]
    assert by_type.index(("response.output_item.added", 1)) < by_type.index(
        ("response.output_text.done", 0)
    )
    assert by_type.index(("response.output_item.done", 0)) < by_type.index(
        ("response.function_call_arguments.done", 1)
    )
    done = seen[-1]["response"]
    assert done["status"] == "completed"
    message, call = done["output"]
    assert message["content"] == [
        {"type": "output_text", "text": "I'll check the current weather in London for you."}
    ]
    assert (call["type"], call["name"], json.loads(call["arguments"])) == (
        "function_call",
        "get_weather",
        {"city": "London"},
    )
    assert [item["status"] for item in done["output"]] == ["completed", "completed"]
    added = [e for e in seen if e["type"] == "conversation.item.added"]
    assert added[1]["previous_item_id"] == message["id"]
    conversation = fake.connections[0].conversation.items
    assert [i["id"] for i in conversation[-2:]] == [message["id"], call["id"]]


async def test_parallel_function_calls_then_both_outputs_answered() -> None:
    fake = FakeRealtimeServer()
    fake.reply(
        FunctionCall("get_weather", {"city": "Paris"}),
        FunctionCall("get_time", '{"city": "Paris"}', call_id="call_time"),
    )
    fake.reply_text("Sunny, and it is noon.")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(_session(["text"], [TOOL, TOOL_TIME]))
            await client.send(user_text("Weather and time in Paris?"))
            await client.send({"type": "response.create"})
            first = await client.until("response.done")
            calls = [e for e in first if e["type"] == "response.function_call_arguments.done"]
            for call in calls:
                await client.send(call_output(call["call_id"], "ok"))
            await client.send({"type": "response.create"})
            second = await client.until("response.done")
    assert [c["name"] for c in calls] == ["get_weather", "get_time"]
    assert [c["output_index"] for c in calls] == [0, 1]
    assert calls[1]["call_id"] == "call_time"
    assert calls[0]["call_id"] != calls[1]["call_id"]
    assert [o["type"] for o in first[-1]["response"]["output"]] == ["function_call"] * 2
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == "Sunny, and it is noon."


async def test_every_kind_of_output_in_an_audio_session() -> None:
    fake = FakeRealtimeServer()
    pcm = b"\x01\x00" * 4800  # 200 ms
    fake.reply(Text("Let me see."), Audio(pcm, "Hmm."), FunctionCall("get_weather", {}))
    seen = await _one_response(fake, modalities=["audio"])
    outputs = seen[-1]["response"]["output"]
    assert [o["type"] for o in outputs] == ["message", "message", "function_call"]
    assert outputs[0]["content"] == [{"type": "output_audio", "transcript": "Let me see."}]
    assert outputs[1]["content"] == [{"type": "output_audio", "transcript": "Hmm."}]
    audio_of_second = b"".join(
        base64.b64decode(e["delta"])
        for e in seen
        if e["type"] == "response.output_audio.delta" and e["output_index"] == 1
    )
    assert audio_of_second == pcm
    item_done = [e["item"]["id"] for e in seen if e["type"] == "response.output_item.done"]
    assert item_done == [o["id"] for o in outputs]
    assert "response.output_text.delta" not in types(seen)
    assert seen[-1]["response"]["usage"]["output_token_details"]["audio_tokens"] > 0


async def test_a_lone_audio_reply_completes_with_usage() -> None:
    # Regression: reply_audio left the response "in_progress" (and usage null) in response.done.
    fake = FakeRealtimeServer()
    fake.reply_audio(b"\0\0" * 2400, "hi")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            seen = await client.until("response.done")
    assert seen[-1]["response"]["status"] == "completed"
    assert seen[-1]["response"]["usage"]["total_tokens"] > 0


async def test_cancel_mid_way_ends_every_open_item_incomplete_in_order() -> None:
    fake = FakeRealtimeServer()
    fake.reply(Text("One two three"), FunctionCall("get_weather", {"city": "Rome"}), stall_after=4)
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(_session(["text"], [TOOL]))
            await client.send({"type": "response.create"})
            await client.until("response.function_call_arguments.delta")
            await client.send({"type": "response.cancel"})
            seen = await client.until("response.done")
    done = seen[-1]["response"]
    assert done["status"] == "cancelled"
    assert [o["status"] for o in done["output"]] == ["incomplete", "incomplete"]
    assert done["output"][0]["content"] == [{"type": "output_text", "text": "One two three"}]
    ends = [(e["type"], e.get("output_index")) for e in seen if e["type"].endswith(".done")]
    assert ends == [
        ("response.output_text.done", 0),
        ("response.content_part.done", 0),
        ("conversation.item.done", None),
        ("response.output_item.done", 0),
        ("response.function_call_arguments.done", 1),
        ("conversation.item.done", None),
        ("response.output_item.done", 1),
        ("response.done", None),
    ]


async def test_max_output_tokens_cuts_the_reply_and_drops_what_follows() -> None:
    fake = FakeRealtimeServer()
    fake.reply(Text("a" * 16), Text("b" * 40), FunctionCall("get_weather", {}))
    seen = await _one_response(fake, response={"max_output_tokens": 6})
    done = seen[-1]["response"]
    assert (done["status"], done["status_details"]["reason"]) == ("incomplete", "max_output_tokens")
    assert [o["type"] for o in done["output"]] == ["message", "message"]
    assert [o["status"] for o in done["output"]] == ["completed", "incomplete"]
    # 4 tokens spent on the first output leave 2 (8 characters) for the second.
    assert done["output"][1]["content"][0]["text"] == "b" * 8


async def test_out_of_band_response_with_several_outputs() -> None:
    fake = FakeRealtimeServer()
    fake.reply(Text("Summary."), Text("Details."))
    seen = await _one_response(
        fake, response={"conversation": "none", "output_modalities": ["text"]}
    )
    assert [o["content"][0]["text"] for o in seen[-1]["response"]["output"]] == [
        "Summary.",
        "Details.",
    ]
    assert "conversation.item.added" not in types(seen)
    assert seen[-1]["response"]["conversation_id"] is None


async def test_a_call_of_an_undeclared_function_among_outputs_fails_the_test() -> None:
    fake = FakeRealtimeServer()
    fake.reply(Text("Sure."), FunctionCall("book_flight", {}))
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            close = await client.closed()
    error = next(e for e in client.events if e["type"] == "error")
    assert "'book_flight'" in error["error"]["message"]
    assert close.code == 1011
    assert "book_flight" in close.reason and "never declared" in close.reason
    with pytest.raises(AssertionError, match="declared no function tool named 'book_flight'"):
        fake.check()


def test_reply_needs_outputs() -> None:
    fake = FakeRealtimeServer()
    with pytest.raises(TypeError, match="at least one output"):
        fake.reply()
    with pytest.raises(TypeError, match="not 'hello'"):
        fake.reply("hello")  # type: ignore[arg-type]
    assert fakes.FunctionCall("f", {"a": 1}).arguments == '{"a": 1}'
    assert fakes.FunctionCall("f", "{}", call_id="c").call_id == "c"


def test_strict_report_names_each_output() -> None:
    fake = FakeRealtimeServer()
    fake.reply(Text("hi"), Audio(b"\0\0", "oh"), FunctionCall("f", {}), stall_after=2)
    with pytest.raises(AssertionError) as info:
        fake.check()
    assert (
        "- reply(Text('hi'), Audio(<2 bytes>, transcript='oh'), FunctionCall('f', '{}'), "
        "stall_after=2)  (NEVER USED)"
    ) in str(info.value)
