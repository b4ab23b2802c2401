"""The recording transport never changes what the connection does (issue 10 §3).

Frames the recorder cannot handle (JSON nested past Python's recursion limit, a valid event
900 levels deep, a lone surrogate) and a file it cannot write are logged and noted, never
raised into the transport: the connection sees the same events with and without recording.
The peers are raw sockets and the in-memory transport.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import realtime
from realtime import Recorder
from realtime.events import Closed, FrameError
from realtime.transports import MemoryTransport, ServerSocket, Transport
from realtime.transports._recording import redact

from ._util import EventLog
from .hostile import TEXT, RawPeer, network_transport, raw_server

TIMEOUT = 10.0

DEEP_INVALID = '{"type": "x.too_deep", "a": ' + "[" * 100_000 + "]" * 100_000 + "}"
DEEP_VALID = '{"type": "x.deep", "a": ' + "[" * 900 + "]" * 900 + "}"
SURROGATE = '{"type": "x.surrogate", "text": "\\ud800 alone"}'
AFTER = '{"type": "x.after"}'
FRAMES = [DEEP_INVALID, DEEP_VALID, SURROGATE, AFTER]


@pytest.fixture(params=["memory", "httpx_ws", "websockets"])
async def served(
    request: pytest.FixtureRequest, anyio_backend: str
) -> AsyncIterator[tuple[Transport, str]]:
    """A transport and a URL whose server sends FRAMES, then waits for the client's close."""
    kind = str(request.param)
    if kind == "websockets" and anyio_backend != "asyncio":
        pytest.skip("websockets transport is asyncio-only")
    if kind == "memory":

        async def handler(socket: ServerSocket) -> None:
            await socket.accept()
            for text in FRAMES:
                await socket.send_text(text)
            await socket.receive()

        yield MemoryTransport(handler), "wss://example.invalid/v1/realtime"
        return

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        for text in FRAMES:
            await peer.send_frame(TEXT, text.encode())
        await peer.read_close()

    transport = network_transport(kind)
    try:
        async with raw_server(script) as server:
            yield transport, server.url
    finally:
        await transport.aclose()


async def _run(transport: Transport, url: str) -> list[Any]:
    """Connect, wait for the event after the hostile ones, close: the events seen."""
    log = EventLog()
    config = realtime.ModelConfig(api_key="sk-recorded-key-123456", url=url, ping_interval=None)
    with anyio.fail_after(TIMEOUT):
        async with realtime.connect(config, transport=transport, session=log):
            await log.wait_for("x.after")
        await log.wait_for(Closed)
    return log.events


def _summary(events: list[Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for event in events:
        if isinstance(event, Closed):
            out.append(("closed", event.code))
        elif isinstance(event, FrameError):
            out.append(("frame_error", None))
        else:
            out.append((event.type, None))
    return out


async def test_recording_changes_nothing(served: tuple[Transport, str], tmp_path: Path) -> None:
    transport, url = served
    plain = await _run(transport, url)
    recorder = Recorder(tmp_path / "session.jsonl")
    with recorder:
        recorded = await _run(recorder.transport(transport), url)
    assert _summary(recorded) == _summary(plain)
    assert ("x.after", None) in _summary(recorded)
    assert _summary(recorded)[-1] == ("closed", 1000)

    lines = [json.loads(line) for line in recorder.path.read_text("utf-8").splitlines()]
    notes = [r["note"] for r in lines if r["direction"] == "meta" and "note" in r]
    events = {r["event"]["type"]: r["event"] for r in lines if r["direction"] == "server"}
    # The frame nested past the recursion limit is noted, not recorded; the rest is recorded.
    assert notes == ["server event not recorded: RecursionError"]
    assert recorder.failures == 1
    assert "x.deep" in events
    assert events["x.surrogate"]["text"] == "\ud800 alone"
    assert "x.after" in events


async def test_unwritable_file_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(AFTER)
        await socket.receive()

    recorder = Recorder(tmp_path)  # a directory: every write fails
    with caplog.at_level(logging.WARNING, logger="realtime.recorder"):
        events = await _run(recorder.transport(MemoryTransport(handler)), "wss://x/v1/realtime")
    assert _summary(events)[-2:] == [("x.after", None), ("closed", 1000)]
    assert recorder.failures >= 2  # the handshake and the event
    assert "handshake not recorded: IsADirectoryError" in caplog.text
    assert "sk-recorded-key" not in caplog.text


def test_listener_and_direct_calls_never_raise(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "r.jsonl")
    deep: Any = "sk-deepsecret123"
    for _ in range(900):  # the old recursive redact took two frames a level: RecursionError
        deep = [deep]
    with recorder:
        recorder.server({"type": "x.deep", "a": deep})
        recorder.server({"type": "x.surrogate", "text": "\udc80"})  # no UTF-8 form: escaped
        recorder.client({"type": "x", "bad": {1, 2}})  # not JSON-serialisable: noted
    lines = [json.loads(line) for line in recorder.path.read_text("utf-8").splitlines()]
    assert recorder.failures == 1
    assert lines[1]["event"]["text"] == "\udc80"
    assert lines[-1]["note"] == "client event not recorded: TypeError"
    node = lines[0]["event"]["a"]
    while isinstance(node, list):
        node = node[0]
    assert node == "sk-***"


def test_redact_keeps_the_input_and_copies() -> None:
    event = {"a": ["sk-abcdefgh", {"b": "sk-ijklmnop"}], "n": 1}
    out = redact(event)
    assert out == {"a": ["sk-***", {"b": "sk-***"}], "n": 1}
    assert event == {"a": ["sk-abcdefgh", {"b": "sk-ijklmnop"}], "n": 1}
    assert redact("sk-abcdefgh") == "sk-***"
    assert redact(3) == 3
