"""Handshake, auth, session object, session.update validation, and malformed client events."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from fakes import FakeClock, FakeRealtimeServer
from realtime import ConnectRequest, ConnError
from realtime.transports import MemoryTransport
from tests.fake_client import connect, types


async def test_session_created_is_complete_and_realistic() -> None:
    clock = FakeClock(1_800_000_000)
    fake = FakeRealtimeServer(clock=clock)
    with anyio.fail_after(5):
        async with connect(fake, created=False) as client:
            created = await client.recv()
    session = created["session"]
    assert created["type"] == "session.created"
    assert created["event_id"].startswith("event_")
    assert session["id"].startswith("sess_")
    assert session["object"] == "realtime.session"
    assert session["model"] == "gpt-realtime"
    assert session["expires_at"] == 1_800_000_000 + 3600
    assert session["output_modalities"] == ["audio"]
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["audio"]["output"]["voice"] == "alloy"
    connection = fake.connections[0]
    assert connection.query == {"model": "gpt-realtime"}
    assert connection.headers["authorization"] == "Bearer sk-test"


async def test_session_update_merges_and_answers_the_whole_session() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            before = client.events[0]["session"]
            await client.send(
                {
                    "type": "session.update",
                    "event_id": "u1",
                    "session": {
                        "type": "realtime",
                        "instructions": "Be brief.",
                        "output_modalities": ["text"],
                        "audio": {
                            "input": {
                                "turn_detection": {
                                    "type": "server_vad",
                                    "silence_duration_ms": 500,
                                },
                                "transcription": {"model": "gpt-4o-transcribe"},
                            },
                            "output": {"voice": "marin"},
                        },
                    },
                }
            )
            updated = (await client.recv())["session"]
            await client.send(
                {"type": "session.update", "session": {"type": "realtime", "tool_choice": "none"}}
            )
            again = (await client.recv())["session"]
    assert updated["id"] == before["id"]
    assert updated["instructions"] == "Be brief."
    assert updated["output_modalities"] == ["text"]
    detection = updated["audio"]["input"]["turn_detection"]
    assert detection["silence_duration_ms"] == 500
    assert detection["threshold"] == 0.5  # filled with the defaults, as the service does
    assert updated["audio"]["input"]["transcription"] == {
        "model": "gpt-4o-transcribe",
        "language": None,
        "prompt": None,
    }
    assert updated["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
        "speed": 1.0,
    }
    assert again["instructions"] == "Be brief."  # merged, not replaced
    assert again["tool_choice"] == "none"
    assert fake.connections[0].session == again


def _field(path: str, value: Any, code: str, deeper: str = "") -> Any:
    """A realtime session with ``value`` at the dotted ``path``, refused with ``code`` at
    ``session.<path><deeper>`` (``deeper`` names the part of ``value`` that is wrong)."""
    session: dict[str, Any] = {"type": "realtime"}
    *parents, leaf = path.split(".")
    node = session
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    param = f"session.{path}{deeper}"
    return pytest.param(session, code, param, id=param)


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({}, "missing_required_parameter", "session.type"),
        ({"type": "transcription"}, "invalid_value", "session.type"),
        _field("voice", "alloy", "unknown_parameter"),
        _field("instructions", 3, "invalid_type"),
        _field("output_modalities", ["video"], "invalid_value", "[0]"),
        _field("output_modalities", ["text", "audio"], "invalid_value"),
        _field("max_output_tokens", 5000, "decimal_above_max_value"),
        _field("tool_choice", "sometimes", "invalid_value"),
        _field("tools", [{"type": "function"}], "missing_required_parameter", "[0].name"),
        _field("audio.output.voice", 7, "invalid_type"),
        _field("audio.output.speed", 3, "decimal_above_max_value"),
        _field(
            "audio.input.format", {"type": "audio/pcm", "rate": 16000}, "invalid_value", ".rate"
        ),
        _field("audio.input.turn_detection", {"type": "loud"}, "invalid_value", ".type"),
        _field(
            "audio.input.turn_detection",
            {"type": "server_vad", "threshold": 2},
            "decimal_above_max_value",
            ".threshold",
        ),
        _field("audio.input.noise_reduction", {"type": "studio"}, "invalid_value", ".type"),
        _field("audio.input.transcription", {"model": 1}, "invalid_type", ".model"),
        _field("include", ["everything"], "invalid_value", "[0]"),
    ],
)
async def test_invalid_session_fields_answer_error_with_param(
    session: dict[str, Any], code: str, param: str
) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            before = fake.connections[0].session
            await client.send({"type": "session.update", "event_id": "bad", "session": session})
            error = await client.recv()
            # The connection stays open and the session unchanged.
            await client.send({"type": "input_audio_buffer.clear"})
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert (error["error"]["code"], error["error"]["param"]) == (code, param)
    assert error["error"]["event_id"] == "bad"
    assert fake.connections[0].session == before


async def test_transcription_intent_gets_a_transcription_session() -> None:
    fake = FakeRealtimeServer()
    fake.transcribe("hello there")
    with anyio.fail_after(5):
        async with connect(fake, query="intent=transcription", created=False) as client:
            created = await client.recv()
            assert created["session"]["type"] == "transcription"
            await client.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "transcription",
                        "audio": {
                            "input": {
                                "transcription": {"model": "gpt-4o-transcribe"},
                                "turn_detection": None,
                            }
                        },
                    },
                }
            )
            await client.until("session.updated")
            await client.send({"type": "input_audio_buffer.append", "audio": "AAAA" * 1600})
            await client.send({"type": "input_audio_buffer.commit"})
            seen = await client.until("conversation.item.input_audio_transcription.completed")
            await client.send({"type": "response.create", "event_id": "r"})
            error = (await client.until("error"))[-1]
    assert types(seen)[0] == "input_audio_buffer.committed"
    assert seen[-1]["transcript"] == "hello there"
    assert error["error"]["event_id"] == "r"


# -- malformed client events -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "param", "echo"),
    [
        ("{not json", "invalid_json", None, None),
        ("[1, 2]", "missing_required_parameter", "type", None),
        ('{"event_id": "e1"}', "missing_required_parameter", "type", "e1"),
        ('{"type": "response.explode", "event_id": "e2"}', "invalid_value", "type", "e2"),
        (
            '{"type": "input_audio_buffer.clear", "extra": 1, "event_id": "e3"}',
            "unknown_parameter",
            "extra",
            "e3",
        ),
        (
            '{"type": "input_audio_buffer.append", "event_id": "e4"}',
            "missing_required_parameter",
            "audio",
            "e4",
        ),
        (
            '{"type": "input_audio_buffer.append", "audio": "!!", "event_id": "e5"}',
            "invalid_value",
            "audio",
            "e5",
        ),
        (
            '{"type": "conversation.item.create", "event_id": "e6"}',
            "missing_required_parameter",
            "item",
            "e6",
        ),
        (
            '{"type": "session.update", "event_id": "e7"}',
            "missing_required_parameter",
            "session",
            "e7",
        ),
        ('{"type": "output_audio_buffer.clear", "event_id": "e8"}', "invalid_value", "type", "e8"),
        ('{"type": "input_audio_buffer.clear", "event_id": 5}', "invalid_type", "event_id", None),
    ],
)
async def test_malformed_events_answer_error_and_keep_the_connection(
    frame: str, code: str, param: str | None, echo: str | None
) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(frame)
            error = (await client.recv())["error"]
            await client.send({"type": "input_audio_buffer.clear"})
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
    assert (error["code"], error["param"], error["event_id"]) == (code, param, echo)


async def test_binary_frames_answer_error() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(b"\x00\x01")
            error = await client.recv()
    assert error["type"] == "error"


# -- handshake and auth ----------------------------------------------------------------------


async def test_missing_authorization_gets_an_error_event_after_the_upgrade() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake, headers=(), created=False) as client:
            error = await client.recv()
            close = await client.closed()
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"] == "Missing bearer or basic authentication in header"
    assert close.code == 3000


async def test_wrong_key_gets_invalid_api_key_and_close_3000() -> None:
    fake = FakeRealtimeServer(api_key="sk-right")
    headers = (("Authorization", "Bearer sk-wrong-key"),)
    with anyio.fail_after(5):
        async with connect(fake, headers=headers, created=False) as client:
            error = await client.recv()
            close = await client.closed()
        async with connect(fake, headers=(("Authorization", "Bearer sk-right"),)) as client:
            pass
    assert error["error"]["code"] == "invalid_api_key"
    assert "sk-wrong-key" not in json.dumps(error)  # the key is masked
    assert (close.code, close.reason) == (3000, "invalid_request_error.invalid_api_key")
    assert fake.connections[1].sent[0]["type"] == "session.created"


async def test_other_paths_are_refused_with_404_and_a_json_body() -> None:
    fake = FakeRealtimeServer()
    request = ConnectRequest(url="wss://api.openai.com/v1/chat", headers=())
    with anyio.fail_after(5), pytest.raises(ConnError) as info:
        async with MemoryTransport(fake).connect(request):
            pass
    assert info.value.status_code == 404
    assert info.value.body["error"]["message"] == "Invalid URL (GET /v1/chat)"
    assert fake.connections == []


async def test_the_core_client_talks_to_the_fake() -> None:
    import realtime

    fake = FakeRealtimeServer()
    fake.reply_text("hi")
    seen: list[str] = []
    with anyio.fail_after(5):
        config = realtime.ModelConfig(api_key="sk-test", url="wss://api.openai.com/v1/realtime")
        async with realtime.connect(config, transport=MemoryTransport(fake)) as conn:
            await conn.send_message({"type": "response.create"})
            async for event in conn:
                seen.append(event.type)
                if event.type == "response.done":
                    break
    assert seen[:3] == ["realtime.connected", "session.created", "response.created"]
    assert fake.received == [{"type": "response.create"}]
    assert fake.connections[0].query == {"model": "gpt-realtime"}


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"type": 1}, "invalid_type", "session.type"),
        ({"type": "realtime", "model": 7}, "invalid_type", "session.model"),
        (
            {"type": "realtime", "output_modalities": "text"},
            "invalid_type",
            "session.output_modalities",
        ),
        (
            {"type": "realtime", "max_output_tokens": "lots"},
            "invalid_value",
            "session.max_output_tokens",
        ),
        (
            {"type": "realtime", "max_output_tokens": 1.5},
            "invalid_type",
            "session.max_output_tokens",
        ),
        (
            {"type": "realtime", "max_output_tokens": True},
            "invalid_type",
            "session.max_output_tokens",
        ),
        ({"type": "realtime", "tools": {}}, "invalid_type", "session.tools"),
        (
            {"type": "realtime", "tools": [{"type": "mcp"}]},
            "missing_required_parameter",
            "session.tools[0].server_label",
        ),
        (
            {"type": "realtime", "tools": [{"type": "mcp", "server_label": "s", "x": 1}]},
            "unknown_parameter",
            "session.tools[0].x",
        ),
        (
            {"type": "realtime", "tools": [{"name": "f", "parameters": []}]},
            "invalid_type",
            "session.tools[0].parameters",
        ),
        (
            {"type": "realtime", "tool_choice": {"type": "function"}},
            "missing_required_parameter",
            "session.tool_choice.name",
        ),
        ({"type": "realtime", "tool_choice": 3}, "invalid_type", "session.tool_choice"),
        (
            {"type": "realtime", "audio": {"output": {"voice": {"id": 1}}}},
            "invalid_type",
            "session.audio.output.voice.id",
        ),
        (
            {"type": "realtime", "audio": {"output": {"speed": "fast"}}},
            "invalid_type",
            "session.audio.output.speed",
        ),
        (
            {"type": "realtime", "audio": {"output": {"speed": 0.1}}},
            "invalid_value",
            "session.audio.output.speed",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcmu", "rate": 8000}}},
            },
            "unknown_parameter",
            "session.audio.input.format.rate",
        ),
        (
            {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "now"}}
                },
            },
            "invalid_value",
            "session.audio.input.turn_detection.eagerness",
        ),
        (
            {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "create_response": "yes"}}
                },
            },
            "invalid_type",
            "session.audio.input.turn_detection.create_response",
        ),
        (
            {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 1.5}}
                },
            },
            "invalid_type",
            "session.audio.input.turn_detection.silence_duration_ms",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"noise_reduction": {"type": "near_field", "strength": 5}}},
            },
            "decimal_above_max_value",
            "session.audio.input.noise_reduction.strength",
        ),
        (
            {"type": "realtime", "audio": {"input": {"transcription": {"language": 5}}}},
            "invalid_type",
            "session.audio.input.transcription.language",
        ),
        (
            {"type": "realtime", "audio": {"input": {"x": 1}}},
            "unknown_parameter",
            "session.audio.input.x",
        ),
        ({"type": "realtime", "audio": "loud"}, "invalid_type", "session.audio"),
        ({"type": "realtime", "include": "all"}, "invalid_type", "session.include"),
        ({"type": "realtime", "truncation": "sometimes"}, "invalid_type", "session.truncation"),
    ],
)
async def test_more_invalid_session_fields(session: dict[str, Any], code: str, param: str) -> None:
    await test_invalid_session_fields_answer_error_with_param(session, code, param)


async def test_every_valid_session_field_is_accepted() -> None:
    fake = FakeRealtimeServer()
    update = {
        "type": "realtime",
        "model": "gpt-realtime",
        "tools": [
            {"type": "mcp", "server_label": "docs", "server_url": "https://example.com/mcp"},
            {"name": "f", "description": "d", "parameters": {"type": "object"}},
        ],
        "tool_choice": {"type": "function", "name": "f"},
        "max_output_tokens": 100,
        "tracing": "auto",
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
        "prompt": None,
        "include": ["item.input_audio_transcription.logprobs"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcma"},
                "noise_reduction": {"type": "far_field", "strength": 0.5},
                "transcription": {"model": "whisper-1", "language": "en", "keywords": ["x"]},
                "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
            },
            "output": {
                "voice": {"id": "voice_123"},
                "speed": 1.25,
                "format": {"type": "audio/pcmu"},
            },
        },
    }
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "session.update", "session": update})
            session = (await client.recv())["session"]
    assert session["tools"][1] == {
        "type": "function",
        "name": "f",
        "description": "d",
        "parameters": {"type": "object"},
    }
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}


async def test_transcription_session_update_refuses_realtime_fields() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake, query="intent=transcription") as client:
            await client.send(
                {
                    "type": "session.update",
                    "session": {"type": "transcription", "instructions": "x"},
                }
            )
            error = (await client.recv())["error"]
            await client.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "transcription",
                        "include": None,
                        "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
                    },
                }
            )
            session = (await client.recv())["session"]
    assert error["param"] == "session.instructions"
    assert "create_response" not in session["audio"]["input"]["turn_detection"]


def test_the_clock_moves_only_when_told() -> None:
    clock = FakeClock(100)
    assert clock() == 100
    clock.advance(2.5)
    assert clock() == 102.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


@pytest.mark.parametrize("depth", [100_000, 2_000_000])
async def test_a_deeply_nested_message_answers_error_and_keeps_the_connection(depth: int) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with connect(fake) as client:
            await client.send('{"type": "session.update", "x": ' + "[" * depth + "]" * depth + "}")
            error = await client.recv()
            await client.send({"type": "session.update", "session": {"type": "realtime"}})
            updated = await client.recv()
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_json"
    assert "nested too deeply" in error["error"]["message"]
    assert updated["type"] == "session.updated"  # the connection stayed open


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_deeply_nested_message_on_the_served_fake_keeps_the_connection() -> None:
    import json

    websockets = pytest.importorskip("websockets")
    fake = FakeRealtimeServer()
    depth = 100_000
    with anyio.fail_after(10):
        async with (
            fake.serve() as url,
            websockets.connect(
                url + "?model=gpt-realtime",
                additional_headers={"Authorization": "Bearer sk-test"},
                max_size=None,
            ) as ws,
        ):
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send('{"type": "x", "y": ' + "[" * depth + "]" * depth + "}")
            error = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            cleared = json.loads(await ws.recv())
    assert error["error"]["code"] == "invalid_json"
    assert cleared["type"] == "input_audio_buffer.cleared"
