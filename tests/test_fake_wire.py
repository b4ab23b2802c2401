"""What the fake puts on the wire: text frames framed by the served fake itself (checked
against wsproto, the reference it replaced on that path, and read back by a real client), and
events sent as they are at the call, in the journal too."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from fakes import FakeConnection, FakeRealtimeServer
from fakes._errors import error_event
from fakes._serve import _text_frame
from tests.fake_client import connect
from tests.test_fake_control import served, ws


def _error(message: str) -> dict[str, Any]:
    return error_event("server_error", None, message)


SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000]


@pytest.mark.parametrize("size", SIZES)
def test_text_frames_are_framed_as_wsproto_frames_them(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    assert len(text.encode()) == size
    reference = Connection(ConnectionType.SERVER).send(TextMessage(data=text))
    assert _text_frame(text.encode()) == reference


async def test_frames_of_every_length_class_reach_a_client_whole() -> None:
    fake = FakeRealtimeServer()
    texts = ["x" * (size - 20) for size in SIZES[3:]]
    with anyio.fail_after(10):
        async with served(fake) as (url, _), ws(url) as client:
            for text in texts:
                await fake.send_event(_error(text))
            got = [(await client.recv())["error"]["message"] for _ in texts]
    assert got == texts


async def test_an_event_is_sent_and_journaled_as_it_was_at_the_call() -> None:
    fake = FakeRealtimeServer()
    shown: list[dict[str, Any]] = []

    @fake.on("input_audio_buffer.clear")
    async def clear(event: dict[str, Any], connection: FakeConnection) -> None:
        error = _error("before")
        shown.append(await connection.send_event(error))
        error["error"]["message"] = "after"  # too late: already sent

    with anyio.fail_after(10):
        async with connect(fake) as client:
            await client.send({"type": "input_audio_buffer.clear"})
            received = await client.recv()
    assert received["error"]["message"] == "before"
    assert fake.sent[-1] == received
    assert fake.connections[0].journal()["sent"][-1]["error"]["message"] == "before"
    assert shown[0]["event_id"] == received["event_id"]
