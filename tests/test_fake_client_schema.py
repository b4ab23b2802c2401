"""The fake checks client events against the official SDK's request types, not a hand-kept list.

These tests walk the SDK's ``TypedDict``s for ``session.update``, ``response.create`` and
``conversation.item.create``, build events that set every field (every member of every union
in turn), and send them: the fake must accept each one. Then the same with ``null`` for every
optional field, which means "not given" (livekit-agents sends ``"instructions": null``).
"""

from __future__ import annotations

import collections.abc
import itertools
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import anyio
import pytest
import typing_extensions

from fakes import FakeRealtimeServer
from tests.fake_client import Client, connect

realtime_types = pytest.importorskip("openai.types.realtime")

ROOT = Path(__file__).resolve().parent.parent

# Values the fake checks beyond their type (ranges the service enforces), by field name.
SAMPLES: dict[str, Any] = {
    "idle_timeout_ms": 6000,
    "max_output_tokens": 100,
    "speed": 1.0,
    "previous_item_id": "root",
    "audio": "AAAA",
    "parameters": {"type": "object", "properties": {}},
}
# Item types the fake does not store (MCP items come from the service, not from clients here).
UNSUPPORTED_ITEMS = ("mcp_",)


def _strip(tp: Any) -> tuple[Any, bool]:
    while typing_extensions.get_origin(tp) in (
        typing_extensions.Required,
        typing_extensions.NotRequired,
        typing_extensions.Annotated,
    ):
        tp = typing_extensions.get_args(tp)[0]
    nullable = False
    if typing_extensions.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing_extensions.get_args(tp) if a is not type(None)]
        nullable = len(members) < len(typing_extensions.get_args(tp))
        tp = typing.Union[tuple(members)] if len(members) > 1 else members[0]  # noqa: UP007
    return tp, nullable


def _required(cls: Any, annotation: Any) -> bool:
    origin = typing_extensions.get_origin(annotation)
    if origin is typing_extensions.Required:
        return True
    if origin is typing_extensions.NotRequired:
        return False
    return bool(getattr(cls, "__total__", True))


_IDS = itertools.count(1)


class Builder:
    """Builds a value of an SDK type; the ``n``-th build takes member ``n`` of each union."""

    def __init__(self, n: int, nulls: bool = False) -> None:
        self.n = n
        self.nulls = nulls
        self.unions = 0  # the largest union seen: how many builds cover every member

    def value(self, tp: Any, field: str) -> Any:
        tp, _ = _strip(tp)
        if field in SAMPLES and not typing_extensions.is_typeddict(tp):
            return SAMPLES[field]
        origin = typing_extensions.get_origin(tp)
        if typing_extensions.is_typeddict(tp):
            return self.object(tp)
        if origin is typing_extensions.Literal:
            return typing_extensions.get_args(tp)[0]
        if origin in (typing.Union, types.UnionType):
            members = [
                m
                for m in typing_extensions.get_args(tp)
                if not (typing_extensions.is_typeddict(m) and _is_unsupported(m))
            ]
            self.unions = max(self.unions, len(members))
            return self.value(members[min(self.n, len(members) - 1)], field)
        if origin in (list, collections.abc.Iterable, collections.abc.Sequence) or (
            origin is not None and getattr(origin, "__name__", "") == "SequenceNotStr"
        ):
            return [self.value(typing_extensions.get_args(tp)[0], field)]
        if origin in (dict, collections.abc.Mapping) or tp in (dict, object):
            return {"key": "value"}
        if tp is str:
            return f"item_{next(_IDS)}" if field == "id" else "text"
        if tp is bool:
            return True
        if tp is int:
            return 1
        if tp is float:
            return 0.5
        raise AssertionError(f"no sample for {tp!r} ({field})")

    def object(self, cls: Any) -> dict[str, Any]:
        hints = typing_extensions.get_type_hints(cls, include_extras=True)
        out: dict[str, Any] = {}
        for field, annotation in hints.items():
            _, nullable = _strip(annotation)
            if (
                self.nulls
                and not _required(cls, annotation)
                and not nullable
                and field not in ("type", "transcription", "noise_reduction", "include")
            ):
                out[field] = None
            else:
                out[field] = self.value(annotation, field)
        return out


def _is_unsupported(cls: Any) -> bool:
    hints = typing_extensions.get_type_hints(cls)
    kind, _ = _strip(hints.get("type", str))
    values = typing_extensions.get_args(kind)
    return any(str(v).startswith(UNSUPPORTED_ITEMS) for v in values)


def _events(event_cls: Any, *, nulls: bool = False) -> list[dict[str, Any]]:
    """Events of ``event_cls`` with every field set; together, every union member is used."""
    built = []
    n = 0
    while True:
        builder = Builder(n, nulls)
        event = builder.object(event_cls)
        event.pop("event_id", None) if nulls else None
        built.append(event)
        n += 1
        if n >= builder.unions:
            return built


async def _no_error(client: Client, event: dict[str, Any], answer: str) -> dict[str, Any]:
    await client.send(event)
    while True:
        received = await client.recv()
        assert received["type"] != "error", f"the fake refused {event}: {received}"
        if received["type"] == answer:
            return received


def test_the_schema_table_is_generated_from_the_installed_sdk() -> None:
    import openai

    from fakes._client_schema import SDK_VERSION

    if openai.__version__ != SDK_VERSION:
        pytest.skip(
            f"the table was generated from openai {SDK_VERSION}, openai {openai.__version__} "
            "is installed (an older floor, tested by .ci/run)"
        )
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_client_schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("nulls", [False, True], ids=["every-field", "null-fields"])
async def test_session_update_accepts_every_field_of_the_sdk_type(nulls: bool) -> None:
    fake = FakeRealtimeServer()
    session_type = realtime_types.RealtimeSessionCreateRequestParam
    updates = []
    with anyio.fail_after(10):
        async with connect(fake) as client:
            n = 0
            while True:
                builder = Builder(n, nulls)
                event = {"type": "session.update", "session": builder.object(session_type)}
                n += 1
                updates.append(await _no_error(client, event, "session.updated"))
                if n >= builder.unions:
                    break
    updated = updates[-1]
    if not nulls:
        assert updated["session"]["parallel_tool_calls"] is True
        assert updates[0]["session"]["audio"]["output"]["voice"] == "text"  # any string
        mcp = [t for u in updates for t in u["session"]["tools"] if t["type"] == "mcp"]
        assert {"allowed_callers", "defer_loading", "tunnel_id"} <= set(mcp[0])
    else:
        # Every optional field null: nothing changed but what null legitimately turns off.
        assert updated["session"]["instructions"] == fake.connections[0].session["instructions"]
        assert updated["session"]["output_modalities"] == ["audio"]


@pytest.mark.parametrize("nulls", [False, True], ids=["every-field", "null-fields"])
async def test_transcription_session_update_accepts_every_field(nulls: bool) -> None:
    fake = FakeRealtimeServer()
    session_type = realtime_types.RealtimeTranscriptionSessionCreateRequestParam
    with anyio.fail_after(10):
        async with connect(fake, query="intent=transcription") as client:
            n = 0
            while True:
                builder = Builder(n, nulls)
                session = builder.object(session_type)
                session["type"] = "transcription"
                await _no_error(
                    client, {"type": "session.update", "session": session}, "session.updated"
                )
                n += 1
                if n >= builder.unions:
                    break


@pytest.mark.parametrize("nulls", [False, True], ids=["every-field", "null-fields"])
async def test_response_create_accepts_every_field_of_the_sdk_type(nulls: bool) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with connect(fake) as client:
            for event in _events(realtime_types.ResponseCreateEventParam, nulls=nulls):
                response = event.get("response") or {}
                if not nulls:
                    # Out of band, so that each response runs whatever the one before does.
                    response["conversation"] = "none"
                    # The scripted model calls no function: the default reply is text.
                    response["tool_choice"] = "auto"
                done = await _no_error(client, event, "response.done")
                assert done["response"]["status"] == "completed"
    if not nulls:
        received = [e for e in fake.received if e["type"] == "response.create"]
        assert all("parallel_tool_calls" in e["response"] for e in received)
        assert all("reasoning" in e["response"] for e in received)


@pytest.mark.parametrize("nulls", [False, True], ids=["every-field", "null-fields"])
async def test_conversation_item_create_accepts_every_item_the_fake_stores(nulls: bool) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with connect(fake) as client:
            events = _events(realtime_types.ConversationItemCreateEventParam, nulls=nulls)
            kinds = set()
            for event in events:
                item = event["item"]
                kinds.add((item["type"], item.get("role")))
                await _no_error(client, event, "conversation.item.done")
    assert kinds == {
        ("message", "system"),
        ("message", "user"),
        ("message", "assistant"),
        ("function_call", None),
        ("function_call_output", None),
    }


async def test_livekit_style_null_instructions_are_not_given() -> None:
    """livekit-agents' generate_reply() sends ``"instructions": null`` with every reply."""
    fake = FakeRealtimeServer()
    fake.reply_text("Hi!")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            done = await _no_error(
                client,
                {
                    "type": "response.create",
                    "response": {
                        "instructions": None,
                        "tools": None,
                        "tool_choice": None,
                        "output_modalities": None,
                        "max_output_tokens": None,
                        "audio": None,
                    },
                },
                "response.done",
            )
    assert done["response"]["status"] == "completed"
    assert done["response"]["output_modalities"] == ["audio"]  # the session's


async def test_an_unknown_field_is_still_refused_with_its_path() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(
                {
                    "type": "response.create",
                    "response": {"tools": [{"type": "mcp", "server_label": "x", "bogus": 1}]},
                }
            )
            error = (await client.until("error"))[-1]["error"]
    assert (error["code"], error["param"]) == ("unknown_parameter", "response.tools[0].bogus")
