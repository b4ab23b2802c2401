"""Tests of realtime.client_events: the builders produce events the official SDK accepts."""

from __future__ import annotations

import base64
import json
from typing import Any, get_args, get_type_hints

import pytest

from realtime import client_events as ce

pydantic = pytest.importorskip("pydantic")
openai_rt = pytest.importorskip("openai.types.realtime")

# The SDK's pydantic union of the 11 client events, discriminated by ``type``.
CLIENT_EVENT = pydantic.TypeAdapter(openai_rt.RealtimeClientEvent)

SESSION = {
    "type": "realtime",
    "instructions": "Be brief.",
    "output_modalities": ["text"],
    "audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": True}}},
}

BUILT: list[tuple[str, Any]] = [
    ("session.update", ce.session_update(SESSION)),
    ("session.update", ce.session_update({"type": "transcription"}, event_id="ev1")),
    ("input_audio_buffer.append", ce.input_audio_buffer_append(b"\x00\x01" * 10)),
    ("input_audio_buffer.append", ce.input_audio_buffer_append("AAE=", event_id="ev2")),
    ("input_audio_buffer.commit", ce.input_audio_buffer_commit()),
    ("input_audio_buffer.commit", ce.input_audio_buffer_commit(event_id="ev3")),
    ("input_audio_buffer.clear", ce.input_audio_buffer_clear()),
    ("input_audio_buffer.clear", ce.input_audio_buffer_clear(event_id="ev4")),
    (
        "conversation.item.create",
        ce.conversation_item_create(
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "x"}]}
        ),
    ),
    (
        "conversation.item.create",
        ce.conversation_item_create(
            {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "call_1"},
            "item_0",
            event_id="ev5",
        ),
    ),
    ("conversation.item.create", ce.user_message("Hello")),
    ("conversation.item.create", ce.user_message("Hi", previous_item_id="root", event_id="e")),
    ("conversation.item.create", ce.function_call_output("call_1", '{"ok": true}')),
    ("conversation.item.create", ce.function_call_output("call_1", "1", event_id="ev6")),
    ("conversation.item.retrieve", ce.conversation_item_retrieve("item_1")),
    ("conversation.item.retrieve", ce.conversation_item_retrieve("item_1", event_id="ev7")),
    ("conversation.item.delete", ce.conversation_item_delete("item_1")),
    ("conversation.item.delete", ce.conversation_item_delete("item_1", event_id="ev8")),
    ("conversation.item.truncate", ce.conversation_item_truncate("item_1", 0, 1500)),
    ("conversation.item.truncate", ce.conversation_item_truncate("i", 0, 0, event_id="ev9")),
    ("response.create", ce.response_create()),
    (
        "response.create",
        ce.response_create(
            {"instructions": "Say hi.", "output_modalities": ["audio"], "conversation": "none"},
            event_id="ev10",
        ),
    ),
    ("response.cancel", ce.response_cancel()),
    ("response.cancel", ce.response_cancel("resp_1", event_id="ev11")),
    ("output_audio_buffer.clear", ce.output_audio_buffer_clear()),
    ("output_audio_buffer.clear", ce.output_audio_buffer_clear(event_id="ev12")),
]


@pytest.mark.parametrize(("wire_type", "event"), BUILT)
def test_builder_output_validates_against_the_sdk(wire_type: str, event: Any) -> None:
    assert event["type"] == wire_type
    # Round-trip through JSON: what goes on the wire is what must validate.
    wire = json.loads(json.dumps(event))
    model = CLIENT_EVENT.validate_python(wire)
    assert model.type == wire_type
    assert model.model_dump(exclude_unset=True) == wire


def test_every_client_event_type_has_a_builder() -> None:
    sdk_types = set()
    for member in get_args(get_args(openai_rt.RealtimeClientEvent)[0]):
        (wire_type,) = get_args(member.model_fields["type"].annotation)
        sdk_types.add(wire_type)
    assert len(sdk_types) == 11
    assert {t for t, _ in BUILT} == sdk_types
    typed = {get_args(get_type_hints(td)["type"])[0] for td in get_args(ce.ClientEvent)}
    assert typed == sdk_types


def test_audio_bytes_are_base64_encoded() -> None:
    pcm = bytes(range(256)) * 3
    event = ce.input_audio_buffer_append(pcm)
    assert base64.b64decode(event["audio"]) == pcm
    assert ce.input_audio_buffer_append("QUJD")["audio"] == "QUJD"


def test_optional_keys_are_omitted_not_null() -> None:
    assert ce.response_create() == {"type": "response.create"}
    assert ce.response_cancel() == {"type": "response.cancel"}
    assert "previous_item_id" not in ce.conversation_item_create({"type": "message"})
    assert ce.input_audio_buffer_commit(event_id="x") == {
        "type": "input_audio_buffer.commit",
        "event_id": "x",
    }


def test_user_message_and_function_call_output_shapes() -> None:
    assert ce.user_message("Hi") == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hi"}],
        },
    }
    assert ce.function_call_output("call_9", "42")["item"] == {
        "type": "function_call_output",
        "call_id": "call_9",
        "output": "42",
    }


def test_nested_payloads_are_copied() -> None:
    session: dict[str, Any] = {"type": "realtime"}
    event = ce.session_update(session)
    session["instructions"] = "later"
    assert event["session"] == {"type": "realtime"}
