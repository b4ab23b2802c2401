"""Usage: the token counts the fake reports, pinned over a multi-turn conversation.

The numbers were taken from the fake as it computed them by walking the whole conversation on
every response; it now keeps running totals, and must report exactly the same numbers (input
tokens grow with the history, as on the real service).
"""

from __future__ import annotations

import base64
from typing import Any

import anyio

from fakes import FakeRealtimeServer
from fakes._audio import pcm16_tone
from tests.fake_client import Client, connect, user_text

TOOL = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}


def _summary(usage: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        usage["input_token_details"]["text_tokens"],
        usage["input_token_details"]["audio_tokens"],
        usage["output_token_details"]["text_tokens"],
        usage["output_token_details"]["audio_tokens"],
        usage["total_tokens"],
    )


async def _turn(client: Client, response: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    event: dict[str, Any] = {"type": "response.create"}
    if response is not None:
        event["response"] = response
    await client.send(event)
    seen = await client.until("response.done")
    seen.extend(await client.until("rate_limits.updated"))
    return seen


async def _conversation(fake: FakeRealtimeServer) -> list[list[dict[str, Any]]]:
    turns: list[list[dict[str, Any]]] = []
    async with connect(fake) as client:
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "instructions": "Be brief, and always friendly to the user.",
                    "tools": [TOOL],
                    "audio": {
                        "input": {
                            "turn_detection": None,
                            "transcription": {"model": "whisper-1"},
                        }
                    },
                },
            }
        )
        await client.until("session.updated")
        # 1. a text turn (the default reply echoes the user)
        await client.send(user_text("Hello there, how are you today?"))
        turns.append(await _turn(client))
        # 2. a function call, its output, and the answer
        fake.reply_function_call("lookup", {"q": "the weather in Paris"})
        await client.send(user_text("Look up the weather in Paris."))
        turns.append(await _turn(client))
        call = turns[-1][-2]["response"]["output"][0]
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": "sunny, 24 degrees",
                },
            }
        )
        turns.append(await _turn(client))
        # 3. a spoken reply, truncated by the client
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "output_modalities": ["audio"]},
            }
        )
        await client.until("session.updated")
        fake.reply_text("Here is a longer spoken answer for you.")
        turns.append(await _turn(client))
        spoken = turns[-1][-2]["response"]["output"][0]["id"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": spoken,
                "content_index": 0,
                "audio_end_ms": 300,
            }
        )
        await client.until("conversation.item.truncated")
        # 4. committed user audio, transcribed
        await client.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(pcm16_tone(750)).decode(),
            }
        )
        fake.transcribe("What about tomorrow in the morning?")
        await client.send({"type": "input_audio_buffer.commit"})
        await client.until("conversation.item.input_audio_transcription.completed")
        fake.reply_audio(pcm16_tone(420), transcript="Tomorrow is sunny.")
        turns.append(await _turn(client))
        # 5. a deleted item no longer counts
        first_user = fake.connections[0].conversation.items[0]["id"]
        await client.send({"type": "conversation.item.delete", "item_id": first_user})
        await client.until("conversation.item.deleted")
        turns.append(await _turn(client, {"output_modalities": ["text"]}))
        # 6. out of band: an explicit input, then the whole conversation as context
        turns.append(
            await _turn(
                client,
                {
                    "conversation": "none",
                    "output_modalities": ["text"],
                    "input": [
                        {"type": "item_reference", "id": spoken},
                        {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "Summarise it all."}],
                        },
                    ],
                },
            )
        )
        turns.append(await _turn(client, {"conversation": "none", "output_modalities": ["text"]}))
        # 7. a user message with audio content, and a cancelled reply
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {
                            "type": "input_audio",
                            "audio": base64.b64encode(pcm16_tone(230)).decode(),
                            "transcript": "and the weekend",
                        }
                    ],
                },
            }
        )
        await client.until("conversation.item.done")
        fake.reply_text("one two three four five six seven", stall_after=3)
        await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        for _ in range(3):  # all it streams before it stalls
            await client.until("response.output_text.delta")
        await client.send({"type": "response.cancel"})
        turns.append(await client.until("response.done"))
        turns[-1].extend(await client.until("rate_limits.updated"))
        # 8. a truncated reply (max_output_tokens) after a session instructions change
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "instructions": "Short."},
            }
        )
        await client.until("session.updated")
        fake.reply_text("This answer is much too long to fit in the limit given.")
        turns.append(await _turn(client, {"max_output_tokens": 3, "output_modalities": ["text"]}))
    return turns


# (input text, input audio, output text, output audio, total), per response, as reported by the
# fake before running totals; then the tokens remaining after each rate_limits.updated.
PINNED_USAGE = [
    (19, 0, 12, 0, 31),
    (38, 0, 8, 0, 46),
    (51, 0, 11, 0, 62),
    (60, 0, 12, 16, 88),
    (69, 11, 5, 9, 94),
    (66, 16, 12, 0, 94),
    (16, 3, 9, 0, 28),
    (75, 16, 12, 0, 103),
    (79, 19, 4, 0, 102),
    (74, 19, 4, 0, 97),
]
PINNED_REMAINING = [
    14999969,
    14999923,
    14999861,
    14999773,
    14999679,
    14999585,
    14999557,
    14999454,
    14999352,
    14999255,
]


async def test_usage_over_a_multi_turn_conversation_is_pinned() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        turns = await _conversation(fake)
    usages = [turn[-2]["response"]["usage"] for turn in turns]
    for usage in usages:
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert usage["input_tokens"] == sum(
            usage["input_token_details"][k] for k in ("text_tokens", "audio_tokens")
        )
    assert [_summary(u) for u in usages] == PINNED_USAGE
    assert [t[-1]["rate_limits"][0]["remaining"] for t in turns] == PINNED_REMAINING
    # A reply_audio response completes (it used to end "in_progress", with no usage).
    assert [t[-2]["response"]["status"] for t in turns] == [
        *["completed"] * 8,
        "cancelled",
        "incomplete",
    ]
