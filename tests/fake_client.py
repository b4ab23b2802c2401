"""A bare client for the fake's tests: raw JSON frames over the memory transport, no parsing
beyond ``json.loads``, so the fake is tested on the wire, independently of the core client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from fakes import FakeRealtimeServer
from realtime import ConnectRequest
from realtime.transports import Channel, Close, MemoryTransport

# A function tool and a text session with it: what the scripted-fake tests configure.
TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TEXT_SESSION = {
    "type": "session.update",
    "session": {"type": "realtime", "output_modalities": ["text"], "tools": [TOOL]},
}

DEFAULT_HEADERS = (("Authorization", "Bearer sk-test"),)


class Client:
    """One connection: ``send`` events, ``recv`` the next, ``until`` a type."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.frames: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.close: Close | None = None

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        if isinstance(event, bytes):
            await self.channel.send_bytes(event)
        else:
            await self.channel.send_text(event if isinstance(event, str) else json.dumps(event))

    async def recv(self) -> dict[str, Any]:
        """The next server event; ``AssertionError`` if the connection closes instead."""
        with anyio.fail_after(5):
            message = await self.channel.receive()
        if isinstance(message, Close):
            self.close = message
            raise AssertionError(f"connection closed: {message}")
        assert isinstance(message, str)
        self.frames.append(message)
        event: dict[str, Any] = json.loads(message)
        self.events.append(event)
        return event

    async def until(self, event_type: str) -> list[dict[str, Any]]:
        """Events up to and including the first of ``event_type``."""
        seen = []
        while True:
            event = await self.recv()
            seen.append(event)
            if event["type"] == event_type:
                return seen

    async def error(self) -> dict[str, Any]:
        """The next server event, which must be an ``error``: its ``error`` object."""
        event = await self.recv()
        assert event["type"] == "error", event
        error: dict[str, Any] = event["error"]
        return error

    async def closed(self) -> Close:
        """Read until the connection ends; return the close."""
        with anyio.fail_after(5):
            while True:
                message = await self.channel.receive()
                if isinstance(message, Close):
                    self.close = message
                    return message
                assert isinstance(message, str)
                self.frames.append(message)
                self.events.append(json.loads(message))


@asynccontextmanager
async def connect(
    fake: FakeRealtimeServer,
    *,
    query: str = "model=gpt-realtime",
    path: str = "/v1/realtime",
    headers: Sequence[tuple[str, str]] = DEFAULT_HEADERS,
    created: bool = True,
) -> AsyncIterator[Client]:
    """Connect to ``fake`` in memory; by default, consume ``session.created`` first."""
    url = f"wss://api.openai.com{path}" + (f"?{query}" if query else "")
    request = ConnectRequest(url=url, headers=tuple(headers))
    async with MemoryTransport(fake).connect(request) as channel:
        client = Client(channel)
        if created:
            event = await client.recv()
            assert event["type"] == "session.created", event
        yield client
        if client.close is None:
            await channel.send_close(1000, "")


async def refusal(fake: FakeRealtimeServer, event: dict[str, Any]) -> dict[str, Any]:
    """Send ``event`` first thing on a new connection to ``fake``; the ``error`` object the
    fake answers with (its next event must be that error)."""
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(event)
            return await client.error()


def user_text(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
        **extra,
    }


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def call_output(call_id: str, output: str) -> dict[str, Any]:
    """The ``conversation.item.create`` that answers the function call ``call_id``."""
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def collapse_deltas(names: list[str]) -> list[str]:
    """Event types with runs of the same delta type collapsed to one."""
    out: list[str] = []
    for name in names:
        if not (out and out[-1] == name and name.endswith(".delta")):
            out.append(name)
    return out
