"""Input audio: millisecond accounting in every format, commit/clear, the energy VAD, idle
timeout, interruption, and input transcription."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from fakes import FakeRealtimeServer
from tests.fake_client import Client, connect, types


def tone(ms: int, amplitude: int = 8000) -> bytes:
    """24 kHz PCM16 sine, loud enough to count as speech."""
    count = ms * 24
    return struct.pack(
        f"<{count}h",
        *(round(amplitude * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(count)),
    )


def silence(ms: int) -> bytes:
    return b"\x00\x00" * 24 * ms


def append(audio: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}


def session(**input_audio: Any) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": input_audio}},
    }


@asynccontextmanager
async def configured(fake: FakeRealtimeServer, **input_audio: Any) -> AsyncIterator[Client]:
    """A client of ``fake`` whose session's input audio is ``input_audio``; 5 s for it all."""
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(session(**input_audio))
            await client.until("session.updated")
            yield client


@pytest.mark.parametrize(
    ("fmt", "silent_byte", "bytes_per_ms"),
    [
        ({"type": "audio/pcm", "rate": 24000}, b"\x00", 48),
        ({"type": "audio/pcmu"}, b"\xff", 8),
        ({"type": "audio/pcma"}, b"\xd5", 8),
    ],
)
async def test_commit_needs_100_ms_in_every_format(
    fmt: dict[str, Any], silent_byte: bytes, bytes_per_ms: int
) -> None:
    fake = FakeRealtimeServer()
    async with configured(fake, format=fmt, turn_detection=None) as client:
        await client.send({"type": "input_audio_buffer.commit", "event_id": "empty"})
        empty = (await client.recv())["error"]
        await client.send(append(silent_byte * bytes_per_ms * 60))
        await client.send({"type": "input_audio_buffer.commit"})
        short = (await client.recv())["error"]
        await client.send(append(silent_byte * bytes_per_ms * 40))
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.until("conversation.item.done")
    assert (empty["code"], empty["event_id"]) == ("input_audio_buffer_commit_empty", "empty")
    assert "0.00ms" in empty["message"]
    assert short["code"] == "input_audio_buffer_commit_empty"
    assert "60.00ms" in short["message"]
    assert types(committed) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert committed[0]["item_id"] == committed[1]["item"]["id"]
    assert committed[1]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    connection = fake.connections[0]
    assert connection.conversation.audio_ms[committed[0]["item_id"]] == 100
    assert connection.audio.buffered_ms(fmt) == 0
    assert connection.runs == []  # a manual commit does not start a response


async def test_clear_empties_the_buffer() -> None:
    fake = FakeRealtimeServer()
    async with configured(fake, turn_detection=None) as client:
        await client.send(append(silence(200)))
        await client.send({"type": "input_audio_buffer.clear"})
        assert (await client.recv())["type"] == "input_audio_buffer.cleared"
        await client.send({"type": "input_audio_buffer.commit"})
        error = (await client.recv())["error"]
    assert error["code"] == "input_audio_buffer_commit_empty"


async def test_server_vad_turn_with_the_recorded_shape() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("Nice to meet you.")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            # Default session: server VAD, threshold 0.5, prefix 300 ms, silence 200 ms.
            await client.send(append(silence(500)))
            await client.send(append(tone(1000)))
            await client.send(append(silence(400)))
            seen = await client.until("response.done")
    assert types(seen)[:6] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
    ]
    started, stopped, committed = seen[:3]
    assert started["audio_start_ms"] == 500 - 300  # speech at 500 ms, minus the prefix padding
    assert stopped["audio_end_ms"] == 1500 + 200  # end of speech, plus the silence duration
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert committed["previous_item_id"] is None
    assert seen[3]["item"]["role"] == "user"
    item_id = committed["item_id"]
    assert fake.connections[0].conversation.audio_ms[item_id] == 1700
    assert seen[-1]["response"]["output"][0]["content"][0]["transcript"] == "Nice to meet you."


@pytest.mark.parametrize(
    ("fmt", "loud", "quiet"),
    [("audio/pcmu", b"\x00\x80", b"\xff"), ("audio/pcma", b"\xaa\x2a", b"\xd5")],
)
async def test_server_vad_on_g711(fmt: str, loud: bytes, quiet: bytes) -> None:
    fake = FakeRealtimeServer()
    async with configured(
        fake,
        format={"type": fmt},
        turn_detection={"type": "server_vad", "create_response": False, "prefix_padding_ms": 0},
    ) as client:
        await client.send(append(quiet * 8 * 100 + loud * 4 * 300 + quiet * 8 * 300))
        seen = await client.until("conversation.item.done")
    assert seen[0]["audio_start_ms"] == 100
    assert seen[1]["audio_end_ms"] == 400 + 200
    assert fake.connections[0].runs == []


async def test_speech_interrupts_the_active_response() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("A long answer that will be cut short.", stall_after=2)
    fake.reply_text("Yes?")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            await client.until("response.output_audio.delta")
            await client.send(append(tone(300)))
            cut = await client.until("response.done")
            await client.send(append(silence(300)))
            second = await client.until("response.done")
    assert cut[-1]["response"]["status"] == "cancelled"
    assert cut[-1]["response"]["status_details"]["reason"] == "turn_detected"
    assert "input_audio_buffer.speech_started" in types(cut)
    assert second[-1]["response"]["status"] == "completed"
    assert "input_audio_buffer.committed" in types(second)


async def test_idle_timeout_commits_the_silence_and_responds() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("Are you still there?")
    async with configured(
        fake, turn_detection={"type": "server_vad", "idle_timeout_ms": 5000}
    ) as client:
        await client.send(append(silence(4000)))
        await client.send(append(silence(1000)))
        seen = await client.until("response.done")
    timeout = seen[0]
    assert timeout["type"] == "input_audio_buffer.timeout_triggered"
    assert (timeout["audio_start_ms"], timeout["audio_end_ms"]) == (0, 5000)
    assert types(seen)[1:5] == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
    ]
    assert seen[1]["item_id"] == timeout["item_id"]


async def test_transcription_follows_response_created_as_recorded() -> None:
    fake = FakeRealtimeServer()
    fake.transcribe("Hello, my name is Marcelo.")
    async with configured(fake, transcription={"model": "gpt-realtime-whisper"}) as client:
        await client.send(append(tone(800) + silence(300)))
        seen = await client.until("response.done")
    names = types(seen)
    created = names.index("response.created")
    deltas = [e for e in seen if e["type"] == "conversation.item.input_audio_transcription.delta"]
    completed = next(
        e for e in seen if e["type"] == "conversation.item.input_audio_transcription.completed"
    )
    assert names.index("conversation.item.input_audio_transcription.delta") > created
    assert [d["delta"] for d in deltas] == ["Hello,", " my", " name", " is", " Marcelo."]
    # Paced as recorded: three deltas right after response.created, the rest interleaved with
    # the output deltas, and completed partway through the response, before its output ends.
    transcription = "conversation.item.input_audio_transcription.delta"
    assert names[created + 1 : created + 4] == [transcription] * 3
    assert names[created + 4] == "response.output_item.added"
    first_output = names.index("response.output_audio_transcript.delta")
    later = [i for i, name in enumerate(names) if name == transcription and i > first_output]
    assert len(later) == 2
    done = names.index("conversation.item.input_audio_transcription.completed")
    assert first_output < done < names.index("response.output_audio.done")
    assert completed["transcript"] == "Hello, my name is Marcelo."
    assert completed["usage"] == {"type": "duration", "seconds": 1}
    # The default reply answers what was said.
    assert seen[-1]["response"]["output"][0]["content"][0]["transcript"] == (
        "You said: Hello, my name is Marcelo."
    )


async def test_diarized_transcription_and_failure() -> None:
    fake = FakeRealtimeServer()
    fake.transcribe("Two speakers.")
    fake.fail_transcription("Audio was unintelligible.")
    async with configured(
        fake, transcription={"model": "gpt-4o-transcribe-diarize"}, turn_detection=None
    ) as client:
        await client.send(append(silence(500)))
        await client.send({"type": "input_audio_buffer.commit"})
        first = await client.until("conversation.item.input_audio_transcription.completed")
        await client.send(append(silence(500)))
        await client.send({"type": "input_audio_buffer.commit"})
        second = await client.until("conversation.item.input_audio_transcription.failed")
    segment = first[-2]
    assert segment["type"] == "conversation.item.input_audio_transcription.segment"
    assert (segment["text"], segment["start"], segment["end"]) == ("Two speakers.", 0.0, 0.5)
    assert second[-1]["error"]["message"] == "Audio was unintelligible."


async def test_a_cancelled_response_still_delivers_the_whole_transcription() -> None:
    fake = FakeRealtimeServer()
    fake.transcribe("one two three four five six seven eight nine ten")
    fake.reply_text("a long spoken answer", stall_after=1)
    async with configured(fake, transcription={"model": "gpt-realtime-whisper"}) as client:
        await client.send(append(tone(800) + silence(300)))
        seen = await client.until("response.output_audio_transcript.delta")
        await client.send({"type": "response.cancel"})
        seen += await client.until("response.done")
    names = types(seen)
    deltas = [e["delta"] for e in seen if e["type"].endswith("input_audio_transcription.delta")]
    assert "".join(deltas) == "one two three four five six seven eight nine ten"
    assert names.index("conversation.item.input_audio_transcription.completed") < names.index(
        "response.done"
    )
    assert seen[-1]["response"]["status"] == "cancelled"
