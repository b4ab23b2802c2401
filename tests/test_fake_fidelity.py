"""Fidelity bugs found by outside clients (openai-agents, livekit-agents, pipecat, the official
SDK): each is reproduced here with the client that found it where it runs here, and on the wire
with the bare test client on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from fakes import FakeRealtimeServer
from fakes._audio import pcm16_tone
from tests._served import agents_session, asyncio_only, raw_server_event, sdk_session, until
from tests.fake_client import Client, connect, types

# -- the item being streamed can be truncated and retrieved ---------------------------------------


@asynccontextmanager
async def _two_deltas_in(
    fake: FakeRealtimeServer, delta_type: str, **response: Any
) -> AsyncIterator[tuple[Client, list[dict[str, Any]]]]:
    """A bare client on ``fake`` whose reply (``response.create`` with ``response`` options)
    has streamed two ``delta_type`` deltas: the client and the events so far. The fake's reply
    is scripted to stall there."""
    create: dict[str, Any] = {"type": "response.create"}
    if response:
        create["response"] = response
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(create)
            seen = await client.until(delta_type)
            seen += await client.until(delta_type)
            yield client, seen


async def _cancel(client: Client) -> dict[str, Any]:
    """Cancel the reply being streamed: its ``response.done`` response."""
    await client.send({"type": "response.cancel"})
    return (await client.until("response.done"))[-1]["response"]


async def test_truncate_and_retrieve_the_item_being_streamed() -> None:
    fake = FakeRealtimeServer()
    fake.reply_audio(pcm16_tone(1000), transcript="one two three four five", stall_after=4)
    async with _two_deltas_in(fake, "response.output_audio.delta") as (client, seen):
        item_id = seen[-1]["item_id"]
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = (await client.until("conversation.item.retrieved"))[-1]["item"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 150,
            }
        )
        truncated = (await client.until("conversation.item.truncated"))[-1]
        done = await _cancel(client)
    added = next(e for e in seen if e["type"] == "conversation.item.added")
    assert added["item"]["content"] == []  # as recorded: content comes with content_part.added
    assert retrieved["status"] == "in_progress"
    assert retrieved["content"] == [{"type": "output_audio", "transcript": "one two"}]
    assert truncated["audio_end_ms"] == 150
    stored = fake.connections[0].conversation.get(item_id)
    assert stored is not None
    # The cut is kept: the transcript dropped, the audio at 150 ms, once the reply ends too.
    assert stored["content"] == [{"type": "output_audio", "transcript": ""}]
    assert fake.connections[0].conversation.audio_ms[item_id] == 150
    assert done["status"] == "cancelled"
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": ""}]


async def test_truncate_beyond_the_audio_sent_so_far_is_refused() -> None:
    fake = FakeRealtimeServer()
    fake.reply_audio(pcm16_tone(1000), transcript="", stall_after=2)
    async with _two_deltas_in(fake, "response.output_audio.delta") as (client, seen):
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": seen[-1]["item_id"],
                "content_index": 0,
                "audio_end_ms": 900,
            }
        )
        error = (await client.until("error"))[-1]["error"]
        await _cancel(client)
    assert error["param"] == "audio_end_ms"
    assert "of 200ms" in error["message"]  # two deltas of 100 ms were sent, then it stalled


async def test_a_text_item_being_streamed_shows_its_text_so_far() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("alpha beta gamma delta", stall_after=2)
    streaming = _two_deltas_in(fake, "response.output_text.delta", output_modalities=["text"])
    async with streaming as (client, seen):
        await client.send({"type": "conversation.item.retrieve", "item_id": seen[-1]["item_id"]})
        retrieved = (await client.until("conversation.item.retrieved"))[-1]["item"]
        done = await _cancel(client)
    assert retrieved["content"] == [{"type": "output_text", "text": "alpha beta"}]
    assert done["output"][0]["content"] == [{"type": "output_text", "text": "alpha beta"}]


@asyncio_only
async def test_official_sdk_truncates_the_reply_being_streamed(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    fake_realtime.reply_audio(pcm16_tone(2000), transcript="a long spoken reply", stall_after=6)
    async with sdk_session(fake_realtime_url) as connection:
        await connection.response.create()
        seen = await until(connection, "response.output_audio.delta")
        seen += await until(connection, "response.output_audio.delta")
        await connection.conversation.item.truncate(
            item_id=seen[-1].item_id, content_index=0, audio_end_ms=120
        )
        after = await until(connection, "conversation.item.truncated")
        await connection.conversation.item.retrieve(item_id=seen[-1].item_id)
        retrieved = (await until(connection, "conversation.item.retrieved"))[-1]
        await connection.response.cancel()
        await until(connection, "response.done")
    assert "error" not in [e.type for e in after]
    assert after[-1].audio_end_ms == 120
    assert retrieved.item.content[0].type == "output_audio"


@asyncio_only
async def test_openai_agents_interrupt_during_a_spoken_reply(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    pytest.importorskip("agents")
    from agents.realtime import RealtimeAgent

    fake_realtime.reply_audio(pcm16_tone(3000), transcript="a long answer", stall_after=8)
    agent = RealtimeAgent(name="Talker", instructions="Talk.")
    errors: list[Any] = []
    async with agents_session(fake_realtime_url, agent) as session:
        await session.send_message("Tell me a story.")
        audio = 0
        async for event in session:
            if event.type == "error":
                errors.append(event.error)
            if event.type == "audio":
                audio += 1
                if audio == 3:
                    await session.interrupt()
                    break
        truncate = (await fake_realtime.wait_received(event_type="conversation.item.truncate"))[0]
        truncated = False
        async for event in session:
            if event.type == "error":
                errors.append(event.error)
                break
            if raw_server_event(event).get("type") == "conversation.item.truncated":
                truncated = True
                break
    assert truncate["content_index"] == 0
    assert errors == []
    assert truncated
    assert "error" not in types(fake_realtime.sent)
