"""The same script gives the same event stream, byte for byte, on asyncio and trio."""

from __future__ import annotations

import base64
import struct

import anyio

from fakes import FakeRealtimeServer
from tests.fake_client import connect, user_text

TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}


async def _conversation() -> list[str]:
    fake = FakeRealtimeServer()
    fake.reply_function_call("lookup", {"q": "x"})
    fake.reply_audio(b"\x01\x02" * 4800, transcript="Here you go.")
    fake.transcribe("Thanks.")
    speech = struct.pack("<2400h", *([6000, -6000] * 1200))  # 100 ms, loud
    with anyio.fail_after(5):
        async with connect(fake, created=False) as client:
            await client.recv()
            await client.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "tools": [TOOL],
                        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                    },
                }
            )
            await client.until("session.updated")
            await client.send(user_text("look it up"))
            await client.send({"type": "response.create"})
            done = (await client.until("response.done"))[-1]
            await client.until("rate_limits.updated")
            call = done["response"]["output"][0]
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": call["call_id"],
                        "output": "1",
                    },
                }
            )
            await client.send({"type": "response.create"})
            await client.until("rate_limits.updated")
            silence = b"\x00" * 48 * 300
            for chunk in (speech * 3, silence):
                await client.send(
                    {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
                )
            await client.until("rate_limits.updated")
            await client.send({"type": "conversation.item.delete", "item_id": call["id"]})
            await client.until("conversation.item.deleted")
    fake.check()
    return client.frames


def test_same_script_same_bytes_on_asyncio_and_trio() -> None:
    on_asyncio = anyio.run(_conversation, backend="asyncio")
    on_trio = anyio.run(_conversation, backend="trio")
    again = anyio.run(_conversation, backend="asyncio")
    assert len(on_asyncio) > 40
    assert on_asyncio == on_trio == again
