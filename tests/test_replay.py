"""Recorder and FakeRealtimeServer.replay: record a session, replay it, detect divergence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from fakes._replay import ReplayDivergenceError, load_recording
from realtime.transports import HttpxWsTransport, MemoryTransport

DATA = Path(__file__).parent / "data"
KEY = "sk-proj-SECRETSECRET1234"


async def text_of_turn(s: realtime.Session, prompt: str, responses: int = 1) -> str:
    await s.send_text(prompt)
    text = ""
    done = 0
    with anyio.fail_after(10):
        async for event in s:
            if isinstance(event, realtime.TextDelta):
                text += event.delta
            elif isinstance(event, realtime.ResponseDone):
                done += 1
                if done == responses:
                    break
            elif isinstance(event, (realtime.Error, realtime.Closed)):
                raise AssertionError(event)
    return text


async def record_against_fake(path: Path) -> None:
    fake = FakeRealtimeServer()
    fake.reply_text(f"My key is {KEY}, do not tell.")
    recorder = realtime.Recorder(path)
    config = realtime.ModelConfig(api_key=KEY)
    with recorder:
        async with realtime.Session(
            config,
            transport=recorder.transport(MemoryTransport(fake)),
            output_modalities=["text"],
        ) as s:
            assert "do not tell" in await text_of_turn(s, "hello")


async def test_recorder_writes_both_directions_redacted(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    await record_against_fake(path)
    text = path.read_text()
    assert "SECRETSECRET" not in text
    records = [json.loads(line) for line in text.splitlines()]
    meta = records[0]
    assert meta["direction"] == "meta" and meta["headers"]["Authorization"] == "***"
    directions = {r["direction"] for r in records[1:]}
    assert directions == {"client", "server"}
    times = [r["t"] for r in records]
    assert times == sorted(times)
    types = [(r["direction"], r["event"]["type"]) for r in records[1:]]
    # Frames are recorded as the client sees them: its session.update may go out before its
    # reader picked up session.created, so only causal order is fixed.
    assert sorted(types[:3]) == [
        ("client", "session.update"),
        ("server", "session.created"),
        ("server", "session.updated"),
    ]
    assert types.index(("client", "session.update")) < types.index(("server", "session.updated"))
    assert ("client", "response.create") in types


@pytest.mark.parametrize("transport", ["memory", "httpx_ws"])
async def test_recording_made_against_the_fake_replays(tmp_path: Path, transport: str) -> None:
    path = tmp_path / "session.jsonl"
    await record_against_fake(path)
    replay = FakeRealtimeServer.replay(path)
    config = realtime.ModelConfig(api_key="sk-test")
    if transport == "memory":
        async with realtime.Session(
            config, transport=MemoryTransport(replay), output_modalities=["text"]
        ) as s:
            text = await text_of_turn(s, "hello")
    else:
        http = HttpxWsTransport()
        try:
            async with (
                replay.serve() as url,
                realtime.Session(
                    realtime.ModelConfig(api_key="sk-test", url=url),
                    transport=http,
                    output_modalities=["text"],
                ) as s,
            ):
                text = await text_of_turn(s, "hello")
        finally:
            await http.aclose()
    replay.check()
    assert text == "My key is sk-***, do not tell."
    assert [e["type"] for e in replay.received] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]


async def test_real_service_recording_drives_a_tool_round() -> None:
    calls: list[str] = []

    @realtime.tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        calls.append(city)
        return f"It is foggy and 12 degrees in {city}."

    replay = FakeRealtimeServer.replay(DATA / "openai_tool_call_round.jsonl")
    async with realtime.Session(
        realtime.ModelConfig(api_key="sk-test"),
        transport=MemoryTransport(replay),
        tools=[get_weather],
        output_modalities=["text"],
    ) as s:
        text = await text_of_turn(s, "What is the weather in London?", responses=2)
        history = s.history
    replay.check()
    assert calls == ["London"]
    assert text == "It is foggy and 12 degrees in London."
    output = next(
        e for e in replay.received if e.get("item", {}).get("type") == "function_call_output"
    )
    assert output["item"]["output"] == "It is foggy and 12 degrees in London."
    assert [i["type"] for i in history] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


async def test_divergence_names_the_expected_and_received_events() -> None:
    replay = FakeRealtimeServer.replay(DATA / "openai_tool_call_round.jsonl")
    async with realtime.Session(
        realtime.ModelConfig(api_key="sk-test"),
        transport=MemoryTransport(replay),
        output_modalities=["text"],
    ) as s:
        await s.create_response()  # the recording expects a conversation.item.create here
        with anyio.fail_after(10):
            events = [e async for e in s]
    error = next(e for e in events if isinstance(e, realtime.Error))
    assert error.code == "replay_divergence"
    assert isinstance(events[-1], realtime.Closed) and events[-1].code == 1011
    with pytest.raises(ReplayDivergenceError) as info:
        replay.check()
    message = str(info.value)
    assert "'conversation.item.create'" in message and "'response.create'" in message
    assert "line 4" in message


def test_bad_recording_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"from": "server", "event": {"type": "x"}}\n{"nope": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        load_recording(path)


async def test_recorded_pacing_keeps_the_gaps(tmp_path: Path) -> None:
    path = tmp_path / "paced.jsonl"
    lines: list[dict[str, Any]] = [
        {
            "direction": "server",
            "t": 0.0,
            "event": {"type": "session.created", "event_id": "e1", "session": {"type": "realtime"}},
        },
        {
            "direction": "server",
            "t": 0.2,
            "event": {"type": "rate_limits.updated", "event_id": "e2", "rate_limits": []},
        },
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    replay = FakeRealtimeServer.replay(path, pace="recorded")
    async with realtime.connect(
        realtime.ModelConfig(api_key="sk-test"), transport=MemoryTransport(replay)
    ) as conn:
        seen: list[float] = []
        with anyio.fail_after(10):
            async for event in conn:
                if not isinstance(event, realtime.events.ServerEventBase):
                    continue  # the Connected notification
                seen.append(anyio.current_time())
                if len(seen) == 2:
                    break
    assert seen[1] - seen[0] >= 0.15


async def test_recorder_as_a_listener_records_server_events(tmp_path: Path) -> None:
    path = tmp_path / "listener.jsonl"
    fake = FakeRealtimeServer()
    with realtime.Recorder(path) as recorder:
        async with realtime.connect(
            realtime.ModelConfig(api_key="sk-test"), transport=MemoryTransport(fake)
        ) as conn:
            conn.add_listener(recorder)
            await conn.send_message({"type": "session.update", "session": {"type": "realtime"}})
            with anyio.fail_after(10):
                async for event in conn:
                    if getattr(event, "type", None) == "session.updated":
                        break
    steps = load_recording(path)
    assert [s.event["type"] for s in steps] == ["session.created", "session.updated"]
    assert {s.direction for s in steps} == {"server"}
