"""What is specific to WebsocketsTransport; the conformance suite runs over it through ``wire``.

Everything here but the trio refusal runs on asyncio only (the transport is asyncio-only).
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trustme

import realtime
from fakes import FakeRealtimeServer
from fakes._serve import serve
from realtime.events import Closed
from realtime.transports import Close, ServerSocket, WebsocketsTransport

TIMEOUT = 10.0


class Recorder:
    """A listener that keeps every event and lets a test wait for one of a type."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = anyio.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, kind: type[Any] | str) -> Any:
        while True:
            for event in self.events:
                if (isinstance(kind, str) and event.type == kind) or (
                    isinstance(kind, type) and isinstance(event, kind)
                ):
                    return event
            await self._changed.wait()


def _session_created() -> str:
    return json.dumps({"type": "session.created", "event_id": "event_1", "session": {}})


def _config(url: str, **overrides: Any) -> realtime.ModelConfig:
    options: dict[str, Any] = {"api_key": "sk-test-key", "url": url}
    options.update(overrides)
    return realtime.ModelConfig(**options)


@pytest.fixture
def transport(anyio_backend: str) -> WebsocketsTransport:
    if anyio_backend != "asyncio":
        pytest.skip("websockets transport is asyncio-only")
    return WebsocketsTransport()


def test_import_realtime_does_not_import_websockets() -> None:
    import subprocess

    code = (
        "import sys, realtime, realtime.transports; "
        "assert 'websockets' not in sys.modules, 'websockets imported'; "
        "realtime.transports.WebsocketsTransport; "
        "assert 'websockets' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_trio_is_refused(anyio_backend: str) -> None:
    if anyio_backend != "trio":
        pytest.skip("the refusal is what happens under trio")
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve() as url:
            with pytest.raises(realtime.ConnError, match="asyncio-only"):
                await realtime.connect(_config(url), transport=WebsocketsTransport())
    assert fake.connections == []


# -- the handshake -------------------------------------------------------------------------


async def test_handshake_url_and_headers(transport: WebsocketsTransport) -> None:
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
    names = [name.lower() for name, _ in headers.raw()]
    assert names.count("user-agent") == 1
    assert headers["user-agent"] == "my-app/2"
    assert "sec-websocket-extensions" not in names  # no compression offered


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_upgrade_gives_status_and_json_body(
    transport: WebsocketsTransport, status: int
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
    assert "sk-test-key" not in str(error)


async def test_refused_upgrade_with_text_body(transport: WebsocketsTransport) -> None:
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


async def test_refused_port(transport: WebsocketsTransport) -> None:
    port = _free_port()
    with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
        await realtime.connect(_config(f"ws://127.0.0.1:{port}/v1/realtime"), transport=transport)
    assert "refused" in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_dns_failure(transport: WebsocketsTransport) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
        await realtime.connect(
            _config("wss://no-such-host.invalid/v1/realtime"), transport=transport
        )
    assert "no-such-host.invalid" in str(caught.value)
    assert "resolve" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_connect_timeout(transport: WebsocketsTransport) -> None:
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


async def test_not_a_websocket_server(transport: WebsocketsTransport) -> None:
    # Answers the upgrade with a plain 200 and garbage: a handshake error, not a crash.
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)

    async def garbage(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(b"not http at all\r\n\r\n")

    with anyio.fail_after(TIMEOUT):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, garbage)
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(
                    _config(f"ws://127.0.0.1:{port}/v1/realtime"), transport=transport
                )
            tg.cancel_scope.cancel()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.__cause__ is not None


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


async def test_tls_trusted(
    ca: trustme.CA, server_ssl: ssl.SSLContext, transport: WebsocketsTransport
) -> None:
    client_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_ssl)
    fake = FakeRealtimeServer()
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve(ssl=server_ssl) as url:
            assert url.startswith("wss://")
            tls = WebsocketsTransport(ssl=client_ssl)
            async with realtime.connect(_config(url), transport=tls, session=recorder):
                await recorder.wait_for("session.created")
    assert fake.connections[0].headers["authorization"] == "Bearer sk-test-key"


async def test_tls_untrusted(server_ssl: ssl.SSLContext, transport: WebsocketsTransport) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve(ssl=server_ssl) as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    assert "TLS" in str(caught.value)
    assert "certificate" in str(caught.value)
    assert isinstance(caught.value.__cause__, ssl.SSLError)


# -- the channel ---------------------------------------------------------------------------


async def _channel_test(
    transport: WebsocketsTransport,
    handler: Callable[[ServerSocket], Awaitable[None]],
    body: Callable[[Any], Awaitable[None]],
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            request = await realtime._config.build_request(_config(url), "m")
            async with transport.connect(request) as channel:
                await body(channel)


async def test_receive_many_drains_and_close_repeats(transport: WebsocketsTransport) -> None:
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


async def test_ping_pong_and_server_sees_messages(transport: WebsocketsTransport) -> None:
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


async def test_keepalive_failure_closes(transport: WebsocketsTransport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        socket.answer_pings = False
        await socket.send_text(_session_created())
        while not isinstance(await socket.receive(), Close):
            pass

    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            config = _config(url, ping_interval=0.05, ping_timeout=0.2)
            async with realtime.connect(config, transport=transport, session=recorder) as conn:
                closed = await recorder.wait_for(Closed)
                assert conn.state is realtime.ConnectionState.CLOSED
    assert "keepalive" in closed.reason
    assert closed.clean is False


async def test_large_messages_both_ways(transport: WebsocketsTransport) -> None:
    async def echo(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        while not isinstance(item := await socket.receive(), Close):
            message = json.loads(item)
            message["type"] = "test.echo"
            await socket.send_text(json.dumps(message))

    recorder = Recorder()
    audio = "A" * (5 * 1024 * 1024)
    with anyio.fail_after(TIMEOUT):
        async with (
            serve(echo) as url,
            realtime.connect(_config(url), transport=transport, session=recorder) as c,
        ):
            await recorder.wait_for("session.created")
            await c.send_message({"type": "input_audio_buffer.append", "audio": audio})
            event = await recorder.wait_for("test.echo")
    assert event.raw["audio"] == audio


def test_repr_has_no_secrets() -> None:
    assert repr(WebsocketsTransport()) == "WebsocketsTransport()"
