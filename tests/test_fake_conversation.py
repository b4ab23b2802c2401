"""Conversation items: create (every kind), previous_item_id, retrieve, delete, truncate."""

from __future__ import annotations

import itertools
from typing import Any

import anyio
import pytest

from fakes import FakeRealtimeServer
from tests.fake_client import Client, connect, refusal, types, user_text


def _message(role: str, part: dict[str, Any], **item: Any) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": role, "content": [part], **item},
    }


async def _create(client: Client, event: dict[str, Any]) -> list[dict[str, Any]]:
    await client.send(event)
    return await client.until("conversation.item.done")


async def test_create_every_kind_of_item_in_order() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            system = await _create(
                client, _message("system", {"type": "input_text", "text": "Be nice."})
            )
            user = await _create(client, user_text("Hi"))
            assistant = await _create(
                client, _message("assistant", {"type": "output_text", "text": "Hello!"})
            )
            call = await _create(
                client,
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call",
                        "name": "lookup",
                        "call_id": "call_1",
                        "arguments": "{}",
                    },
                },
            )
            output = await _create(
                client,
                {
                    "type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
                },
            )
    created = [system, user, assistant, call, output]
    for events in created:
        assert types(events) == ["conversation.item.added", "conversation.item.done"]
        assert events[0]["item"] == events[1]["item"]
        assert events[0]["item"]["id"].startswith("item_")
    assert system[0]["previous_item_id"] is None
    for before, after in itertools.pairwise(created):
        assert after[0]["previous_item_id"] == before[0]["item"]["id"]
    assert user[0]["item"] == {
        "id": user[0]["item"]["id"],
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": "Hi"}],
    }
    assert output[0]["item"]["output"] == "ok"
    assert [i["type"] for i in fake.connections[0].conversation.items] == [
        "message",
        "message",
        "message",
        "function_call",
        "function_call_output",
    ]


async def test_previous_item_id_places_the_item() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            first = (await _create(client, user_text("one")))[0]["item"]["id"]
            await _create(client, user_text("three"))
            middle = await _create(client, user_text("two", previous_item_id=first))
            root = await _create(client, {**user_text("zero"), "previous_item_id": "root"})
            await client.send({**user_text("x", previous_item_id="item_missing"), "event_id": "p"})
            error = (await client.recv())["error"]
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {**user_text("dup")["item"], "id": first},
                }
            )
            duplicate = (await client.recv())["error"]
    assert middle[0]["previous_item_id"] == first
    assert root[0]["previous_item_id"] is None
    texts = [i["content"][0]["text"] for i in fake.connections[0].conversation.items]
    assert texts == ["zero", "one", "two", "three"]
    assert (error["param"], error["event_id"]) == ("previous_item_id", "p")
    assert duplicate["param"] == "item.id"


async def test_retrieve_and_delete_and_their_errors() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            item = (await _create(client, user_text("keep me")))[0]["item"]
            await client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
            retrieved = await client.recv()
            await client.send({"type": "conversation.item.delete", "item_id": item["id"]})
            deleted = await client.recv()
            errors = []
            for kind in ("retrieve", "delete"):
                await client.send(
                    {"type": f"conversation.item.{kind}", "item_id": item["id"], "event_id": kind}
                )
                errors.append((await client.recv())["error"])
    assert retrieved == {
        "type": "conversation.item.retrieved",
        "event_id": retrieved["event_id"],
        "item": item,
    }
    assert deleted["type"] == "conversation.item.deleted"
    assert deleted["item_id"] == item["id"]
    assert [(e["code"], e["event_id"]) for e in errors] == [
        ("item_retrieve_invalid_item_id", "retrieve"),
        ("item_delete_invalid_item_id", "delete"),
    ]
    assert fake.connections[0].conversation.items == []


async def test_truncate_an_assistant_audio_reply() -> None:
    fake = FakeRealtimeServer()
    fake.reply_audio(b"\x01\x00" * 24000, transcript="A whole second of audio.")  # 1000 ms
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            done = (await client.until("response.done"))[-1]
            item_id = done["response"]["output"][0]["id"]
            truncate = {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
            }
            await client.send({**truncate, "audio_end_ms": 2000, "event_id": "long"})
            too_long = (await client.until("error"))[-1]["error"]
            await client.send({**truncate, "audio_end_ms": 400})
            truncated = await client.recv()
            await client.send({**truncate, "item_id": "item_nope", "audio_end_ms": 1})
            unknown = (await client.recv())["error"]
            await client.send({**truncate, "content_index": 3, "audio_end_ms": 1})
            bad_index = (await client.recv())["error"]
            user = (await _create(client, user_text("text")))[0]["item"]["id"]
            await client.send({**truncate, "item_id": user, "audio_end_ms": 1})
            not_audio = (await client.recv())["error"]
            await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
            retrieved = await client.recv()
    assert (too_long["param"], too_long["event_id"]) == ("audio_end_ms", "long")
    assert truncated == {
        "type": "conversation.item.truncated",
        "event_id": truncated["event_id"],
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": 400,
    }
    assert unknown["code"] == "item_truncate_invalid_item_id"
    assert bad_index["param"] == "content_index"
    assert not_audio["param"] == "item_id"
    # The transcript no longer matches the audio: the service drops it.
    assert retrieved["item"]["content"] == [{"type": "output_audio", "transcript": ""}]
    assert fake.connections[0].conversation.audio_ms[item_id] == 400


@pytest.mark.parametrize(
    ("item", "code", "param"),
    [
        ({"role": "user", "content": []}, "missing_required_parameter", "item.type"),
        ({"type": "note"}, "invalid_value", "item.type"),
        ({"type": "message", "content": []}, "missing_required_parameter", "item.role"),
        ({"type": "message", "role": "robot", "content": []}, "invalid_value", "item.role"),
        ({"type": "message", "role": "user"}, "missing_required_parameter", "item.content"),
        ({"type": "message", "role": "user", "content": "hi"}, "invalid_type", "item.content"),
        (
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "input_text", "text": "x"}],
            },
            "invalid_value",
            "item.content[0].type",
        ),
        (
            {"type": "message", "role": "system", "content": [{"type": "input_audio"}]},
            "invalid_value",
            "item.content[0].type",
        ),
        (
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 1}]},
            "invalid_type",
            "item.content[0].text",
        ),
        (
            {"type": "function_call_output", "output": "x"},
            "missing_required_parameter",
            "item.call_id",
        ),
        ({"type": "function_call", "name": "f"}, "missing_required_parameter", "item.arguments"),
        (
            {"type": "function_call_output", "call_id": "c", "output": "x", "x": 1},
            "unknown_parameter",
            "item.x",
        ),
    ],
)
async def test_invalid_items(item: dict[str, Any], code: str, param: str) -> None:
    fake = FakeRealtimeServer()
    error = await refusal(fake, {"type": "conversation.item.create", "item": item, "event_id": "i"})
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "i")
    assert fake.connections[0].conversation.items == []


async def test_audio_content_parts_and_headers() -> None:
    fake = FakeRealtimeServer()
    audio = "AAAA" * 1200  # 3600 bytes = 75 ms at 24 kHz
    with anyio.fail_after(5):
        async with connect(
            fake, headers=(("Authorization", "Bearer k"), ("X-A", "1"), ("x-a", "2"))
        ) as client:
            user = await _create(
                client,
                _message("user", {"type": "input_audio", "audio": audio, "transcript": "hi"}),
            )
            assistant = await _create(
                client,
                _message("assistant", {"type": "output_audio", "transcript": "yo", "audio": audio}),
            )
            image = await _create(
                client,
                _message("user", {"type": "input_image", "image_url": "data:image/png;base64,AA"}),
            )
            await client.send(_message("user", {"type": "input_audio", "audio": "%%%"}))
            bad_audio = (await client.recv())["error"]
    assert user[0]["item"]["content"] == [
        {"type": "input_audio", "audio": audio, "transcript": "hi"}
    ]
    assert assistant[0]["item"]["content"][0]["transcript"] == "yo"
    assert image[0]["item"]["content"][0]["type"] == "input_image"
    conversation = fake.connections[0].conversation
    assert conversation.audio_ms[user[0]["item"]["id"]] == 75
    assert bad_audio["code"] == "invalid_value"
    headers = fake.connections[0].headers
    assert headers["x-a"] == "1, 2"
    assert len(headers) == 2
    assert sorted(headers) == ["authorization", "x-a"]
    assert headers.raw()[1] == ("X-A", "1")
    assert "Bearer" not in repr(headers)


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "conversation.item.retrieve", "item_id": 5}, "invalid_type", "item_id"),
        ({"type": "conversation.item.delete"}, "invalid_type", "item_id"),
        ({**user_text("x"), "previous_item_id": 3}, "invalid_type", "previous_item_id"),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [], "id": 7},
            },
            "invalid_type",
            "item.id",
        ),
    ],
)
async def test_invalid_item_ids(event: dict[str, Any], code: str, param: str) -> None:
    error = await refusal(FakeRealtimeServer(), event)
    assert (error["code"], error["param"]) == (code, param)


def test_the_id_index_follows_inserts_and_deletes_anywhere() -> None:
    """Items are indexed by id: lookups stay right after inserts and deletes in the middle."""
    import random

    from fakes._conversation import Conversation, item_tokens

    rng = random.Random(7)
    conversation = Conversation("conv_1")
    model: list[str] = []
    for n in range(400):
        roll = rng.random()
        if model and roll < 0.25:
            victim = rng.choice(model)
            conversation.delete(victim)
            model.remove(victim)
        else:
            item = {
                "id": f"item_{n}",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "x" * rng.randrange(20)}],
            }
            if model and roll < 0.5:
                after = rng.choice(model)
                conversation.insert(item, after)
                model.insert(model.index(after) + 1, item["id"])
            elif roll < 0.55:
                conversation.insert(item, "root")
                model.insert(0, item["id"])
            else:
                conversation.insert(item)
                model.append(item["id"])
            if rng.random() < 0.3:
                conversation.set_audio_ms(item["id"], rng.randrange(1000))
        probe = rng.choice([*model, "item_missing"]) if model else "item_missing"
        expected = model.index(probe) if probe in model else None
        assert conversation.index(probe) == expected
        assert (conversation.get(probe) is not None) == (probe in model)
        if expected:
            assert conversation.previous_id(probe) == model[expected - 1]
        assert [i["id"] for i in conversation.items] == model
        # The running totals equal a walk over the items.
        walked = [item_tokens(i, conversation.audio_ms.get(i["id"], 0)) for i in conversation.items]
        assert conversation.token_totals() == (
            sum(t for t, _ in walked),
            sum(a for _, a in walked),
        )
