"""Recording files that are not what replay expects, and clients that go off-script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from fakes._replay import ReplayDivergenceError, ReplayServer, load_recording
from realtime.events import Closed
from realtime.transports import MemoryTransport
from tests._util import EventLog


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"from": "nobody", "event": {}}', "expected {'direction'"),
        ('{"from": "server", "event": {"type": 5}}', "no string 'type'"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, line: str, fragment: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"direction": "meta"}\n\n' + line + "\n")
    with pytest.raises(ValueError, match=fragment) as info:
        load_recording(path)
    assert ":3:" in str(info.value)


def test_pace_is_checked() -> None:
    with pytest.raises(ValueError, match="pace"):
        ReplayServer([], pace="fast")


def recording(tmp_path: Path, *records: dict[str, Any]) -> Path:
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


CREATED = {"from": "server", "event": {"type": "session.created", "event_id": "e1", "session": {}}}


@pytest.mark.parametrize("sent", ["not json", "[1]"])
async def test_a_frame_that_is_not_an_event_diverges(tmp_path: Path, sent: str) -> None:
    path = recording(tmp_path, CREATED, {"from": "client", "event": {"type": "response.create"}})
    replay = FakeRealtimeServer.replay(path)
    log = EventLog()
    config = realtime.ModelConfig(api_key="k", ping_interval=None)
    with anyio.fail_after(5):
        async with realtime.connect(config, transport=MemoryTransport(replay), session=log) as c:
            await log.wait_for("session.created")
            await c.send_frame(realtime.TextFrame(sent))
            closed = await log.wait_for(Closed)
    assert closed.code == 1011
    with pytest.raises(ReplayDivergenceError, match="None"):
        replay.check()


async def test_client_closing_early_diverges(tmp_path: Path) -> None:
    path = recording(tmp_path, CREATED, {"from": "client", "event": {"type": "response.create"}})
    replay = FakeRealtimeServer.replay(path)
    log = EventLog()
    config = realtime.ModelConfig(api_key="k", ping_interval=None)
    with anyio.fail_after(5):
        async with realtime.connect(config, transport=MemoryTransport(replay), session=log):
            await log.wait_for("session.created")
    with pytest.raises(ReplayDivergenceError, match="the client closed"):
        replay.check()
