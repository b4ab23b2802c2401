"""Live translation sessions: ``realtime.connect(..., translation=True)`` and its typed events,
the fake's ``/v1/realtime/translations`` with ``fake.translate(...)``, and the official SDK's
``client.realtime.translations.connect`` against the served fake. Every event the fake sends is
validated strictly against the SDK's translation types by the suite's autouse fixture."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from fakes._audio import pcm16_tone
from realtime.events import Closed, UnknownEvent
from realtime.events import translation as tr
from tests._util import EventLog
from tests.conftest import Wire
from tests.fake_client import connect as raw_connect
from tests.fake_client import types

MODEL = "gpt-realtime-translate"
SPEECH = pcm16_tone(600, amplitude=8000)  # loud enough for the VAD
SILENCE = bytes(48 * 400)


def _chunks(pcm: bytes, ms: int = 200) -> list[bytes]:
    size = 48 * ms
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


async def test_connect_with_translation_parses_translation_events(wire: Wire) -> None:
    wire.fake.translate("Bonjour tout le monde.", input_transcript="Hello everyone.")
    log = EventLog()
    with anyio.fail_after(10):
        async with wire.connect(model=MODEL, session=log, translation=True) as conn:
            await log.wait_for("session.created")
            await conn.send_message(
                tr.session_update(
                    {
                        "audio": {
                            "input": {"transcription": {"model": "gpt-4o-transcribe"}},
                            "output": {"language": "fr"},
                        }
                    }
                )
            )
            await log.wait_for("session.updated")
            await conn.send_message(
                [tr.input_audio_buffer_append(c) for c in _chunks(SPEECH + SILENCE)]
            )
            await log.wait_for(
                lambda e: isinstance(e, tr.OutputTranscriptDelta) and e.delta.endswith("monde.")
            )
            await conn.send_message(tr.session_close())
            await log.wait_for(Closed)
    connection = wire.fake.connections[0]
    assert connection.path == "/v1/realtime/translations"
    assert connection.query == {"model": MODEL}
    created = next(e for e in log.events if isinstance(e, tr.SessionCreated))
    assert created.session["type"] == "translation" and created.session["model"] == MODEL
    updated = next(e for e in log.events if isinstance(e, tr.SessionUpdated))
    assert updated.session["audio"]["output"] == {"language": "fr"}
    source = "".join(e.delta for e in log.events if isinstance(e, tr.InputTranscriptDelta))
    target = "".join(e.delta for e in log.events if isinstance(e, tr.OutputTranscriptDelta))
    audio = [e for e in log.events if isinstance(e, tr.OutputAudioDelta)]
    assert (source, target) == ("Hello everyone.", "Bonjour tout le monde.")
    assert audio and all(e.format == "pcm16" and e.sample_rate == 24000 for e in audio)
    assert [e.elapsed_ms for e in audio] == sorted(e.elapsed_ms or 0 for e in audio)
    assert any(isinstance(e, tr.SessionClosed) for e in log.events)
    assert not any(isinstance(e, UnknownEvent) for e in log.events)
    closed = log.events[-1]
    assert isinstance(closed, Closed) and closed.code == 1000


async def test_defaults_synthetic_audio_and_a_flush_on_close() -> None:
    fake = FakeRealtimeServer()
    voice = pcm16_tone(400, frequency=220)
    fake.translate("Hola.", audio=voice)
    with anyio.fail_after(5):
        async with raw_connect(fake, path="/v1/realtime/translations", query="") as client:
            assert client.events[0]["session"]["model"] == "gpt-realtime-translate"
            for chunk in _chunks(SPEECH + SILENCE):
                await client.send(
                    {"type": "session.input_audio_buffer.append", "audio": _b64(chunk)}
                )
            first = await client.until("session.output_audio.delta")
            while len([e for e in client.events if e["type"] == "session.output_audio.delta"]) < 2:
                await client.recv()
            # Speech in progress when the session closes is translated first (the default).
            await client.send({"type": "session.input_audio_buffer.append", "audio": _b64(SPEECH)})
            await client.send({"type": "session.close"})
            rest = await client.until("session.closed")
            closed = await client.closed()
    assert "session.input_transcript.delta" not in types(first + rest)  # no transcription
    sent = b"".join(
        base64.b64decode(e["delta"])
        for e in client.events[: client.events.index(rest[0])]
        if e["type"] == "session.output_audio.delta"
    )
    assert sent == voice
    default = "".join(e["delta"] for e in rest if e["type"] == "session.output_transcript.delta")
    assert default == "(en) Hello."
    assert closed.code == 1000


def _b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "response.create"}, "invalid_value", "type"),
        ({"type": "input_audio_buffer.append", "audio": ""}, "invalid_value", "type"),
        ({"type": "session.update"}, "missing_required_parameter", "session"),
        (
            {"type": "session.update", "session": {"instructions": "x"}},
            "unknown_parameter",
            "session.instructions",
        ),
        ({"type": "session.input_audio_buffer.append"}, "missing_required_parameter", "audio"),
        ({"type": "session.input_audio_buffer.append", "audio": "!!"}, "invalid_value", "audio"),
        ({"type": "session.close", "x": 1}, "unknown_parameter", "x"),
    ],
)
async def test_realtime_events_on_a_translation_session_are_errors(
    event: dict[str, Any], code: str, param: str
) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with raw_connect(fake, path="/v1/realtime/translations") as client:
            await client.send({**event, "event_id": "evt_1"})
            error = (await client.until("error"))[-1]["error"]
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "evt_1")


async def test_translation_events_on_a_realtime_session_are_errors() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with raw_connect(fake) as client:
            await client.send({"type": "session.close"})
            error = (await client.until("error"))[-1]["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "type")


async def test_translation_secrets_open_translation_sessions_only(anyio_backend: str) -> None:
    fake = FakeRealtimeServer(api_key="sk-backend-0123456789")
    async with fake.serve() as url:
        backend = realtime.ModelConfig(api_key="sk-backend-0123456789", url=url)
        with anyio.fail_after(10):
            secret = await realtime.create_client_secret(
                backend,
                session={"model": MODEL, "audio": {"output": {"language": "de"}}},
                translation=True,
            )
            log = EventLog()
            device = realtime.ModelConfig(api_key=secret.value, url=url)
            async with realtime.connect(device, model=MODEL, session=log, translation=True):
                created = await log.wait_for(tr.SessionCreated)
    assert isinstance(created, tr.SessionCreated)
    assert created.session["audio"]["output"] == {"language": "de"}


def test_the_translation_url_and_parser() -> None:
    from realtime._config import build_request

    for base in ("wss://h/v1/realtime", "wss://h/v1/realtime/", "wss://h/v1/realtime/translations"):
        config = realtime.ModelConfig(api_key="k", url=base)
        request = anyio.run(lambda config=config: build_request(config, MODEL, translation=True))
        assert request.url == f"wss://h/v1/realtime/translations?model={MODEL}"
    event = tr.parse_text('{"type": "session.closed", "event_id": "e"}')
    assert isinstance(event, tr.SessionClosed)
    assert isinstance(tr.parse_text('{"type": "session.new_thing"}'), UnknownEvent)
    error = tr.parse_text('{"type": "error", "event_id": "e", "error": {"type": "x"}}')
    assert isinstance(error, tr.ErrorEvent)
    for bad in ("[]", "{}", '{"type": "session.closed"}', "nope", '{"type": 1}'):
        with pytest.raises(realtime.InvalidFrameError):
            tr.parse_text(bad)
    assert tr.session_close(event_id="c") == {"type": "session.close", "event_id": "c"}
    assert tr.session_update({}, event_id="u")["event_id"] == "u"
    assert tr.input_audio_buffer_append(b"\0\0", event_id="a")["audio"] == "AAA="


def test_the_generated_translation_events_are_fresh() -> None:
    import subprocess
    import sys
    from pathlib import Path

    import openai

    root = Path(__file__).resolve().parent.parent
    header = (root / "realtime/events/_translation.py").read_text().splitlines()[0]
    if f"from openai {openai.__version__};" not in header:
        pytest.skip(f"{header[2:]}; openai {openai.__version__} is installed (the floor run)")
    result = subprocess.run(
        [sys.executable, "tools/gen_translation_events.py", "--check"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@asyncio_only
async def test_official_sdk_translation_session_against_the_served_fake() -> None:
    openai = pytest.importorskip("openai")
    fake = FakeRealtimeServer()
    fake.translate("Guten Tag.", input_transcript="Good day.")
    async with fake.serve() as url:
        client = openai.AsyncOpenAI(
            api_key="sk-test", websocket_base_url=url.removesuffix("/realtime")
        )
        seen: list[Any] = []
        with anyio.fail_after(20):
            async with client.realtime.translations.connect(model=MODEL) as connection:
                await connection.session.update(
                    session={
                        "audio": {
                            "input": {"transcription": {"model": "gpt-4o-transcribe"}},
                            "output": {"language": "de"},
                        }
                    }
                )
                for chunk in _chunks(SPEECH + SILENCE):
                    await connection.session.input_audio_buffer.append(audio=_b64(chunk))
                async for event in connection:
                    seen.append(event)
                    if event.type == "session.output_transcript.delta" and event.delta.endswith(
                        "Tag."
                    ):
                        break
                await connection.session.close()
                async for event in connection:
                    seen.append(event)
                    if event.type == "session.closed":
                        break
    kinds = [e.type for e in seen]
    assert kinds[0] == "session.created" and seen[0].session.type == "translation"
    assert seen[1].type == "session.updated" and seen[1].session.audio.output.language == "de"
    assert "".join(e.delta for e in seen if e.type == "session.input_transcript.delta") == (
        "Good day."
    )
    assert "session.output_audio.delta" in kinds and kinds[-1] == "session.closed"


async def test_the_task_group_and_await_forms(wire: Wire) -> None:
    log = EventLog()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            conn = await wire.connect(model=MODEL, session=log, translation=True, task_group=tg)
            created = await log.wait_for(tr.SessionCreated)
            assert conn.translation is True
            await conn.close()
    assert isinstance(created, tr.SessionCreated)
    assert wire.fake.connections[0].path == "/v1/realtime/translations"
