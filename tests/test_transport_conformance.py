"""One conformance suite for every network transport: httpx-ws, websockets, and the recording
transport wrapping httpx-ws, against the loopback server (``fakes._serve``) and raw listeners.

The connection-level behaviour (close codes, loss, oversize, backpressure) runs over every
transport, memory included, through the ``wire`` fixture; what is specific to one transport
stays in its own file (``test_httpx_ws.py``, ``test_websockets_transport.py``).
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from fakes._serve import serve
from realtime.events import Closed
from realtime.transports import Close, ServerSocket, Transport

from ._util import EventLog

TIMEOUT = 10.0
KINDS = ["httpx_ws", "websockets", "recording"]


@pytest.fixture(params=KINDS)
async def transport(
    request: pytest.FixtureRequest, anyio_backend: str, tmp_path: Path
) -> AsyncIterator[Transport]:
    from realtime.transports import HttpxWsTransport, WebsocketsTransport

    kind = request.param
    if kind == "websockets" and anyio_backend != "asyncio":
        pytest.skip("websockets transport is asyncio-only")
    recorder = realtime.Recorder(tmp_path / "recorded.jsonl")
    inner: Transport = WebsocketsTransport() if kind == "websockets" else HttpxWsTransport()
    t = recorder.transport(inner) if kind == "recording" else inner
    try:
        yield t
    finally:
        await t.aclose()
        recorder.close()


def _config(url: str, **overrides: Any) -> realtime.ModelConfig:
    options: dict[str, Any] = {"api_key": "sk-test-key", "url": url}
    options.update(overrides)
    return realtime.ModelConfig(**options)


def _session_created() -> str:
    return json.dumps({"type": "session.created", "event_id": "event_1", "session": {}})


# -- the handshake -------------------------------------------------------------------------


async def test_handshake_url_and_headers(transport: Transport) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve() as url:
            config = _config(
                url.replace("ws://", "http://") + "?intent=transcription",
                headers={"OpenAI-Project": "proj_1", "user-agent": "my-app/2"},
            )
            async with realtime.connect(config, model="gpt-x", transport=transport):
                pass
    connection = fake.connections[0]
    assert connection.path == "/v1/realtime"
    assert connection.query == {"intent": "transcription", "model": "gpt-x"}
    headers = connection.headers
    assert headers["authorization"] == "Bearer sk-test-key"
    assert headers["openai-project"] == "proj_1"
    # User headers override ours, with no duplicate.
    assert headers["user-agent"] == "my-app/2"
    names = [name.lower() for name, _ in headers.raw()]
    assert names.count("user-agent") == 1
    assert names.count("authorization") == 1
    assert "openai-beta" not in names
    assert headers["upgrade"].lower() == "websocket"


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_upgrade_gives_status_and_json_body(
    transport: Transport, status: int
) -> None:
    body = {
        "error": {
            "message": "You do not have access to this model.",
            "type": "invalid_request_error",
            "code": "model_not_found",
            "param": None,
        }
    }

    async def handler(socket: ServerSocket) -> None:
        await socket.reject(status, json.dumps(body).encode())

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    error = caught.value
    assert error.status_code == status
    assert error.body == body
    assert error.error_code == "model_not_found"
    assert "You do not have access to this model." in str(error)
    assert str(status) in str(error)
    assert "sk-test-key" not in str(error)
    assert "sk-test-key" not in repr(error)


async def test_refused_upgrade_with_text_body(transport: Transport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.reject(502, b"bad gateway", "text/plain")

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    assert caught.value.status_code == 502
    assert caught.value.body == "bad gateway"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_port(transport: Transport) -> None:
    port = _free_port()
    with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
        await realtime.connect(_config(f"ws://127.0.0.1:{port}/v1/realtime"), transport=transport)
    assert "refused" in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_dns_failure(transport: Transport) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
        await realtime.connect(
            _config("wss://no-such-host.invalid/v1/realtime"), transport=transport
        )
    assert "no-such-host.invalid" in str(caught.value)
    assert "resolve" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_connect_timeout(transport: Transport) -> None:
    # A TCP listener that accepts and never answers the upgrade request.
    accepted = anyio.Event()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: anyio.abc.SocketStream) -> None:
        accepted.set()
        async with stream:
            await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, hold)
            config = _config(f"ws://127.0.0.1:{port}/v1/realtime", connect_timeout=0.2)
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(config, transport=transport)
            tg.cancel_scope.cancel()
    assert accepted.is_set()
    assert "timed out" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_tls_untrusted(server_ssl: ssl.SSLContext, transport: Transport) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve(ssl=server_ssl) as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    assert "TLS" in str(caught.value)
    assert "certificate" in str(caught.value)
    assert caught.value.__cause__ is not None
    assert fake.connections == []


# -- frames, closes, keepalive --------------------------------------------------------------


async def test_large_messages_both_ways(transport: Transport) -> None:
    # Audio deltas of several MB, echoed back by the server.
    async def echo(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        while not isinstance(item := await socket.receive(), Close):
            message = json.loads(item)
            message["type"] = "test.echo"  # an unknown type: parsed without field checks
            await socket.send_text(json.dumps(message))

    log = EventLog()
    audio = "A" * (5 * 1024 * 1024)
    with anyio.fail_after(TIMEOUT):
        async with (
            serve(echo) as url,
            realtime.connect(_config(url), transport=transport, session=log) as c,
        ):
            await log.wait_for("session.created")
            await c.send_message({"type": "input_audio_buffer.append", "audio": audio})
            event = await log.wait_for("test.echo")
    assert event.raw["audio"] == audio


async def test_client_close_reaches_server(transport: Transport) -> None:
    seen: list[Any] = []
    ended = anyio.Event()

    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        seen.append(await socket.receive())
        ended.set()

    log = EventLog()
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            async with realtime.connect(_config(url), transport=transport, session=log):
                await log.wait_for("session.created")
            await ended.wait()
    closed = log.events[-1]
    assert isinstance(closed, Closed)
    assert (closed.code, closed.reason, closed.clean) == (1000, "", True)
    assert seen == [Close(1000, "")]


async def test_keepalive_failure_closes(transport: Transport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        socket.answer_pings = False
        await socket.send_text(_session_created())
        while not isinstance(await socket.receive(), Close):
            pass

    log = EventLog()
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            config = _config(url, ping_interval=0.05, ping_timeout=0.2)
            async with realtime.connect(config, transport=transport, session=log) as conn:
                closed = await log.wait_for("realtime.closed")
                assert conn.state is realtime.ConnectionState.CLOSED
    assert "keepalive" in closed.reason
    assert closed.clean is False


# -- the channel ---------------------------------------------------------------------------


async def _channel_test(
    transport: Transport,
    handler: Callable[[ServerSocket], Awaitable[None]],
    body: Callable[[Any], Awaitable[None]],
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            request = await realtime._config.build_request(_config(url), "m")
            async with transport.connect(request) as channel:
                await body(channel)


async def test_receive_many_drains_and_close_repeats(transport: Transport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        for i in range(50):
            await socket.send_text(f"m{i}")
        await socket.send_bytes(b"\x00\x01")
        await socket.close(4001, "bye")
        await socket.receive()

    async def body(channel: Any) -> None:
        items: list[Any] = []
        while not items or not isinstance(items[-1], Close):
            items.extend(await channel.receive_many())
        assert items == [*(f"m{i}" for i in range(50)), b"\x00\x01", Close(4001, "bye")]
        assert await channel.receive() == Close(4001, "bye")
        assert await channel.receive_many() == [Close(4001, "bye")]
        with pytest.raises(realtime.ConnError):
            await channel.send_text("too late")

    await _channel_test(transport, handler, body)


async def test_ping_pong_and_server_sees_messages(transport: Transport) -> None:
    got: list[Any] = []
    done = anyio.Event()

    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        while True:
            item = await socket.receive()
            got.append(item)
            if isinstance(item, Close):
                done.set()
                return

    async def body(channel: Any) -> None:
        pong = await channel.send_ping(b"abcd")
        await pong.wait()
        await channel.send_pong(b"unsolicited")
        await channel.send_text("t")
        await channel.send_bytes(b"b")
        await channel.send_close(1000, "done")
        await channel.send_close(1000, "twice")  # ignored: already closing
        assert await channel.receive() == Close(1000, "done")
        await done.wait()

    await _channel_test(transport, handler, body)
    assert got == ["t", b"b", Close(1000, "done")]


def test_credentials_never_in_repr(transport: Transport) -> None:
    assert "sk-" not in repr(transport)
