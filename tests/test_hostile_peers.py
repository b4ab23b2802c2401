"""The network transports against peers we did not write: raw sockets speaking hand-made
bytes (asyncio and trio) and the ``websockets`` server library (asyncio only).

Issue 10 §2: ``max_message_size`` bounds memory (an oversized message is stopped while it
arrives, with close 1009), and invalid UTF-8 in a text frame closes with 1007, on every
transport.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import anyio
import pytest

import realtime
from realtime._config import build_request
from realtime.events import Closed
from realtime.transports import Close, MemoryTransport, Received, ServerSocket, Transport

from ._util import EventLog
from .hostile import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    RawPeer,
    RawServer,
    Script,
    close_payload,
    frame,
    raw_server,
    websockets_server,
)

TIMEOUT = 10.0
MIB = 1024 * 1024
KEY = "sk-hostile-test-key-0123456789"


@pytest.fixture
def transport(any_network_transport: Transport) -> Transport:
    return any_network_transport


def _config(url: str, **overrides: Any) -> realtime.ModelConfig:
    options: dict[str, Any] = {"api_key": KEY, "url": url, "ping_interval": None}
    options.update(overrides)
    return realtime.ModelConfig(**options)


async def _request(url: str, **overrides: Any) -> realtime.ConnectRequest:
    return await build_request(_config(url, **overrides), "gpt-realtime")


async def _flood_until_close(peer: RawPeer, first: bytes, more: bytes, total: int) -> None:
    """Send ``first``, then ``more`` until ``total`` bytes went out, while waiting for the
    client's close frame; note it as ``peer.notes["close"]``."""

    async def send() -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await peer.send_raw(first)
            sent = len(first)
            while sent < total:
                await peer.send_raw(more)
                sent += len(more)

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        peer.note("close", await peer.read_close())
        tg.cancel_scope.cancel()


async def _received(
    transport: Transport, script: Script, count: int = 1, **overrides: Any
) -> tuple[list[Received], RawServer]:
    """Connect over ``transport`` to a raw peer playing ``script``: the first ``count`` items
    the channel received, once the script ran to its end."""
    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            request = await _request(server.url, **overrides)
            async with transport.connect(request) as channel:
                got = [await channel.receive() for _ in range(count)]
                await server.finished()
    return got, server


def _assert_both_closed_with(code: int, got: Received, server: RawServer) -> Close:
    """The channel reports the close ``code``, and the peer read a close frame with it."""
    assert isinstance(got, Close)
    assert got.code == code
    assert server.peers[0].notes["close"][0] == code
    return got


# -- max_message_size bounds memory ---------------------------------------------------------


async def test_announced_256_mib_message_is_stopped_with_1009(transport: Transport) -> None:
    """A frame header announcing 256 MiB against a 1 MiB limit: the transport closes with
    1009 without reading the message (the peer is still sending when our close arrives)."""
    total = 256 * MIB
    chunk = b"a" * MIB

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await _flood_until_close(peer, frame(TEXT, b"", length=total), chunk, total)

    [got], server = await _received(transport, script, max_message_size=MIB)
    closed = _assert_both_closed_with(1009, got, server)
    assert f"max_message_size={MIB}" in closed.reason


async def test_fragments_each_small_are_counted_as_one_message(transport: Transport) -> None:
    """1 KiB fragments: no frame is over the limit, the message is (websockets counts UTF-8
    bytes against four times the limit, so the flood goes past 4 MiB)."""
    fragment = b"b" * 1024

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        first = frame(TEXT, fragment, fin=False)
        more = frame(CONTINUATION, fragment, fin=False) * 64
        await _flood_until_close(peer, first, more, 6 * MIB)

    [got], server = await _received(transport, script, max_message_size=MIB)
    _assert_both_closed_with(1009, got, server)


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
async def test_limit_counts_characters_and_bytes_exactly(transport: Transport, opcode: int) -> None:
    """At the limit passes, one over is refused: characters for text (2-byte ones here,
    so a byte count would refuse the first), bytes for binary."""
    limit = 1000
    unit = "é" if opcode == TEXT else "x"

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send_frame(opcode, (unit * limit).encode())
        await peer.send_frame(opcode, (unit * (limit + 1)).encode())
        peer.note("close", await peer.read_close())

    [first, second], server = await _received(transport, script, 2, max_message_size=limit)
    expected: str | bytes = unit * limit if opcode == TEXT else (unit * limit).encode()
    assert first == expected
    _assert_both_closed_with(1009, second, server)


async def test_no_limit_delivers_a_large_message(transport: Transport) -> None:
    big = "c" * (3 * MIB)

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send_frame(TEXT, big.encode())
        peer.note("close", await peer.read_close())

    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            request = await _request(server.url, max_message_size=None)
            async with transport.connect(request) as channel:
                assert await channel.receive() == big
                await channel.send_close(1000, "done")
                await server.finished()


async def test_core_sees_closed_1009_with_the_reason(transport: Transport) -> None:
    """End to end: the connection's final Closed says 1009 and why."""

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await _flood_until_close(peer, frame(TEXT, b"", length=64 * MIB), b"d" * MIB, 64 * MIB)

    log = EventLog()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            config = _config(server.url, max_message_size=MIB)
            async with realtime.connect(config, transport=transport, session=log):
                closed = await log.wait_for(Closed)
                await server.finished()
    assert closed.code == 1009
    assert "max_message_size" in closed.reason
    assert server.peers[0].notes["close"][0] == 1009


async def test_websockets_server_sending_too_much_gets_1009(
    transport: Transport, anyio_backend: str
) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the websockets server is asyncio-only")
    seen: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"type": "x", "delta": "e" * (5 * MIB)}))
        await ws.wait_closed()
        seen["code"] = ws.close_code

    log = EventLog()
    with anyio.fail_after(TIMEOUT):
        async with websockets_server(handler) as url:
            config = _config(url, max_message_size=MIB)
            async with realtime.connect(config, transport=transport, session=log):
                closed = await log.wait_for(Closed)
    assert closed.code == 1009
    assert "max_message_size" in closed.reason
    assert seen["code"] == 1009


async def test_memory_transport_enforces_the_limit_too() -> None:
    seen: dict[str, Any] = {}

    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text("f" * 100)
        await socket.send_text("g" * 101)
        seen["close"] = await socket.receive()

    request = realtime.ConnectRequest(
        url="wss://example.invalid/v1/realtime", headers=(), max_message_size=100
    )
    with anyio.fail_after(TIMEOUT):
        async with MemoryTransport(handler).connect(request) as channel:
            items = await channel.receive_many()
            if len(items) == 1:
                items += await channel.receive_many()
    assert items[0] == "f" * 100
    assert items[1] == Close(1009, "message exceeds max_message_size=100")
    assert seen["close"] == Close(1009, "message exceeds max_message_size=100")


async def test_memory_transport_limit_on_receive() -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_bytes(b"h" * 11)
        await socket.receive()

    request = realtime.ConnectRequest(
        url="wss://example.invalid/v1/realtime", headers=(), max_message_size=10
    )
    with anyio.fail_after(TIMEOUT):
        async with MemoryTransport(handler).connect(request) as channel:
            assert await channel.receive() == Close(1009, "message exceeds max_message_size=10")


# -- invalid UTF-8: 1007 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames",
    [
        [frame(TEXT, b'{"type": "\xff"}')],
        # The bad byte in the second fragment, and a truncated sequence at the very end.
        [frame(TEXT, b'{"a": "', fin=False), frame(CONTINUATION, b'\xc3"}')],
    ],
    ids=["single", "fragmented"],
)
async def test_invalid_utf8_closes_with_1007(transport: Transport, frames: list[bytes]) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.accept()
        for data in frames:
            await peer.send_raw(data)
        peer.note("close", await peer.read_close())
        await peer.send_frame(CLOSE, close_payload(1007))

    log = EventLog()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            config = _config(server.url)
            async with realtime.connect(config, transport=transport, session=log):
                closed = await log.wait_for(Closed)
                await server.finished()
    assert closed.code == 1007
    assert server.peers[0].notes["close"][0] == 1007


async def test_invalid_utf8_at_the_transport(transport: Transport) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send_frame(TEXT, b"ok")
        await peer.send_frame(TEXT, b"\xed\xa0\x80")  # an encoded surrogate: not UTF-8
        peer.note("close", await peer.read_close())

    [ok, got], server = await _received(transport, script, 2)
    assert ok == "ok"
    closed = _assert_both_closed_with(1007, got, server)
    assert closed.reason  # says what was wrong


async def test_a_protocol_error_is_reported_with_its_code(transport: Transport) -> None:
    """A continuation frame with nothing to continue: protocol error 1002, not a loss."""

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send_frame(CONTINUATION, b"x")
        peer.note("close", await peer.read_close())

    [got], server = await _received(transport, script)
    _assert_both_closed_with(1002, got, server)


async def test_a_peer_that_never_closes_after_our_1009_is_left_in_close_timeout(
    transport: Transport,
) -> None:
    """After failing the connection the transport does not wait for the peer forever."""

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        # Over four times the limit: websockets fails the connection by itself.
        await peer.send_frame(TEXT, b"z" * 1000)
        peer.note("close", await peer.read_close())
        await anyio.sleep_forever()  # never answers, never closes

    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            request = await _request(server.url, max_message_size=100, close_timeout=0.2)
            async with transport.connect(request) as channel:
                got = await channel.receive()
                peer_saw = await server.peers[0].noted("close")
    assert isinstance(got, Close)
    assert got.code == 1009
    assert peer_saw[0] == 1009


async def test_a_burst_with_an_oversized_message_stops_at_it(transport: Transport) -> None:
    """Messages before the oversized one are delivered, none after it."""
    burst = frame(TEXT, b"a") + frame(TEXT, b"b") + frame(TEXT, b"c" * 150) + frame(TEXT, b"d")

    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send_raw(burst)
        peer.note("close", await peer.read_close())

    items: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            request = await _request(server.url, max_message_size=100)
            async with transport.connect(request) as channel:
                while not any(isinstance(item, Close) for item in items):
                    items += await channel.receive_many()
                peer_saw = await server.peers[0].noted("close")
    assert items == ["a", "b", Close(1009, "message exceeds max_message_size=100")]
    assert peer_saw[0] == 1009


async def test_pings_from_the_peer_are_answered(transport: Transport) -> None:
    async def script(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send_frame(PING, b"are you there")
        peer.note("pong", await peer.read_frame())
        await peer.send_frame(CLOSE, close_payload(1000, "bye"))
        await peer.read_close()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            request = await _request(server.url)
            async with transport.connect(request) as channel:
                pong = await server.peers[0].noted("pong")
                assert await channel.receive() == Close(1000, "bye")
    assert (pong.opcode, pong.payload) == (PONG, b"are you there")
