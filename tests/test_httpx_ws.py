"""The network transport against the loopback server: handshake, failures, closes, keepalive.

Tests that take ``wire`` run over every transport (memory and httpx-ws); the others are about
the network itself and use ``fakes._serve.serve`` with small handlers.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
import trustme

import realtime
from fakes import FakeRealtimeServer
from fakes._serve import serve
from realtime.events import Closed
from realtime.transports import Close, HttpxWsTransport, ServerSocket

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


def _session_created(text: str = "") -> str:
    return json.dumps({"type": "session.created", "event_id": "event_1", "session": {}})


@pytest.fixture
async def transport() -> AsyncIterator[HttpxWsTransport]:
    t = HttpxWsTransport()
    try:
        yield t
    finally:
        await t.aclose()


def _config(url: str, **overrides: Any) -> realtime.ModelConfig:
    options: dict[str, Any] = {"api_key": "sk-test-key", "url": url}
    options.update(overrides)
    return realtime.ModelConfig(**options)


# -- the handshake -------------------------------------------------------------------------


async def test_handshake_url_and_headers(transport: HttpxWsTransport) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve() as url:
            config = _config(
                url + "?intent=transcription",
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


async def test_handshake_default_user_agent_and_call_id(transport: HttpxWsTransport) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve() as url:
            config = _config(url.replace("ws://", "http://"), call_id="rtc_123")
            async with realtime.connect(config, transport=transport):
                pass
    connection = fake.connections[0]
    assert connection.query == {"call_id": "rtc_123"}
    assert connection.headers["user-agent"] == f"realtime-wire/{realtime.__version__}"


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_upgrade_gives_status_and_json_body(
    transport: HttpxWsTransport, status: int
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


async def test_refused_upgrade_with_text_body(transport: HttpxWsTransport) -> None:
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


async def test_refused_port(transport: HttpxWsTransport) -> None:
    port = _free_port()
    with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
        await realtime.connect(_config(f"ws://127.0.0.1:{port}/v1/realtime"), transport=transport)
    assert "refused" in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_dns_failure(transport: HttpxWsTransport) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
        await realtime.connect(
            _config("wss://no-such-host.invalid/v1/realtime"), transport=transport
        )
    assert "no-such-host.invalid" in str(caught.value)
    assert "resolve" in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_connect_timeout(transport: HttpxWsTransport) -> None:
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


async def test_cleartext_key_to_remote_host_is_refused_before_any_byte() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:  # pragma: no cover - must not run
        sent.append(request)
        return httpx.Response(500)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        transport = HttpxWsTransport(client)
        with anyio.fail_after(TIMEOUT), pytest.raises(realtime.ConnError) as caught:
            await realtime.connect(_config("ws://example.invalid/v1/realtime"), transport=transport)
    assert "clear text" in str(caught.value)
    assert "sk-test-key" not in str(caught.value)
    assert sent == []


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


async def test_tls_trusted(ca: trustme.CA, server_ssl: ssl.SSLContext) -> None:
    client_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_ssl)
    fake = FakeRealtimeServer()
    recorder = Recorder()
    async with httpx.AsyncClient(verify=client_ssl) as client:
        with anyio.fail_after(TIMEOUT):
            async with fake.serve(ssl=server_ssl) as url:
                assert url.startswith("wss://")
                transport = HttpxWsTransport(client)
                async with realtime.connect(_config(url), transport=transport, session=recorder):
                    await recorder.wait_for("session.created")
    assert fake.connections[0].headers["authorization"] == "Bearer sk-test-key"


async def test_tls_untrusted(server_ssl: ssl.SSLContext, transport: HttpxWsTransport) -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve(ssl=server_ssl) as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    assert "TLS" in str(caught.value)
    assert "certificate" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert fake.connections == []


# -- closing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000, ""),
        (1001, "Your session hit the maximum duration of 60 minutes."),
        (1011, "server error"),
        (3000, "invalid_request_error.invalid_api_key"),
        (4000, "custom"),
    ],
)
async def test_server_close_codes(wire: Any, code: int, reason: str) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with wire.connect(session=recorder) as conn:
            await recorder.wait_for("session.created")
            await wire.fake.close_connections(code, reason)
            closed = await recorder.wait_for(Closed)
            assert conn.state is realtime.ConnectionState.CLOSED
    assert (closed.code, closed.reason, closed.clean) == (code, reason, True)
    assert type(closed.code) is int


async def test_abrupt_loss_is_1006(wire: Any) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with wire.connect(session=recorder) as conn:
            await recorder.wait_for("session.created")
            await wire.fake.drop_connections()
            closed = await recorder.wait_for(Closed)
            assert conn.state is realtime.ConnectionState.CLOSED
    assert closed.code == 1006
    assert closed.clean is False


async def test_oversized_message_closes_1009(wire: Any) -> None:
    recorder = Recorder()
    config = wire.config(max_message_size=20_000)  # session.created is a few KB
    big = json.dumps({"type": "response.output_text.delta", "delta": "x" * 30_000})
    with anyio.fail_after(TIMEOUT):
        async with wire.connect(config, session=recorder):
            await recorder.wait_for("session.created")
            await wire.fake.send_raw(big)
            closed = await recorder.wait_for(Closed)
    assert closed.code == 1009
    assert "max_message_size" in closed.reason
    assert not any(
        getattr(e, "type", None) == "response.output_text.delta" for e in recorder.events
    )


async def test_large_messages_both_ways(transport: HttpxWsTransport) -> None:
    # Audio deltas of several MB, echoed back by the server.
    async def echo(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        while not isinstance(item := await socket.receive(), Close):
            message = json.loads(item)
            message["type"] = "test.echo"  # an unknown type: parsed without field checks
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


async def test_client_close_reaches_server(transport: HttpxWsTransport) -> None:
    seen: list[Any] = []
    ended = anyio.Event()

    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        seen.append(await socket.receive())
        ended.set()

    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            async with realtime.connect(_config(url), transport=transport, session=recorder):
                await recorder.wait_for("session.created")
            await ended.wait()
    closed = await recorder.wait_for(Closed)
    assert (closed.code, closed.reason, closed.clean) == (1000, "", True)
    assert seen == [Close(1000, "")]


# -- keepalive -----------------------------------------------------------------------------


async def test_keepalive_failure_closes(transport: HttpxWsTransport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        socket.answer_pings = False
        await socket.send_text(_session_created())
        while not isinstance(await socket.receive(), Close):
            pass

    recorder = Recorder()
    config = None
    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            config = _config(url, ping_interval=0.05, ping_timeout=0.2)
            async with realtime.connect(config, transport=transport, session=recorder) as conn:
                closed = await recorder.wait_for(Closed)
                assert conn.state is realtime.ConnectionState.CLOSED
    assert "keepalive" in closed.reason
    assert closed.clean is False


# -- the transport object ------------------------------------------------------------------


async def test_given_client_is_not_closed() -> None:
    fake = FakeRealtimeServer()
    async with httpx.AsyncClient() as client:
        transport = HttpxWsTransport(client)
        with anyio.fail_after(TIMEOUT):
            async with fake.serve() as url, realtime.connect(_config(url), transport=transport):
                pass
        await transport.aclose()
        assert not client.is_closed


async def test_owned_client_is_created_once_and_closed(transport: HttpxWsTransport) -> None:
    fake = FakeRealtimeServer()
    created: list[httpx.AsyncClient] = []
    original = transport._get_client

    def counting() -> httpx.AsyncClient:
        client = original()
        if client not in created:
            created.append(client)
        return client

    transport._get_client = counting  # type: ignore[method-assign]
    with anyio.fail_after(TIMEOUT):
        async with fake.serve() as url:
            for _ in range(3):
                async with realtime.connect(_config(url), transport=transport):
                    pass
    assert len(created) == 1
    await transport.aclose()
    assert created[0].is_closed


def test_client_and_options_are_exclusive() -> None:
    with pytest.raises(TypeError):
        HttpxWsTransport(httpx.AsyncClient(), verify=False)


def test_repr_has_no_secrets() -> None:
    assert "HttpxWsTransport" in repr(HttpxWsTransport())


# -- the channel directly ------------------------------------------------------------------


async def _channel_test(
    handler: Callable[[ServerSocket], Awaitable[None]],
    body: Callable[[Any], Awaitable[None]],
) -> None:
    transport = HttpxWsTransport()
    try:
        with anyio.fail_after(TIMEOUT):
            async with serve(handler) as url:
                request = await realtime._config.build_request(_config(url), "gpt-realtime")
                async with transport.connect(request) as channel:
                    await body(channel)
    finally:
        await transport.aclose()


async def test_receive_after_close_returns_close_again() -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text("hello")
        await socket.send_bytes(b"\x00\x01")
        await socket.close(4001, "bye")
        await socket.receive()

    async def body(channel: Any) -> None:
        items: list[Any] = []
        while not items or not isinstance(items[-1], Close):
            items.extend(await channel.receive_many())
        assert items == ["hello", b"\x00\x01", Close(4001, "bye")]
        # Never waits on httpx-ws again once the connection ended.
        assert await channel.receive() == Close(4001, "bye")
        assert await channel.receive_many() == [Close(4001, "bye")]
        with pytest.raises(realtime.ConnError):
            await channel.send_text("too late")

    await _channel_test(handler, body)


async def test_ping_pong_and_server_sees_messages() -> None:
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
        assert await channel.receive() == Close(1000, "done")
        await done.wait()

    await _channel_test(handler, body)
    assert got == ["t", b"b", Close(1000, "done")]


# -- the server ----------------------------------------------------------------------------


async def test_serve_handler_failure_closes_1011(transport: HttpxWsTransport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        raise RuntimeError("boom")

    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with (
            serve(handler) as url,
            realtime.connect(_config(url), transport=transport, session=recorder),
        ):
            closed = await recorder.wait_for(Closed)
    assert closed.code == 1011
    assert "RuntimeError" in closed.reason


async def test_serve_handler_failure_before_accept_is_500(transport: HttpxWsTransport) -> None:
    async def handler(socket: ServerSocket) -> None:
        raise RuntimeError("boom")

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    assert caught.value.status_code == 500


async def test_serve_teardown_cancels_live_connections(transport: HttpxWsTransport) -> None:
    recorder = Recorder()
    fake = FakeRealtimeServer()
    stop = anyio.Event()
    elapsed: list[float] = []

    async def run_server(*, task_status: anyio.abc.TaskStatus[str]) -> None:
        async with fake.serve() as url:
            task_status.started(url)
            await stop.wait()
            started = anyio.current_time()
        elapsed.append(anyio.current_time() - started)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            url = await tg.start(run_server)
            async with realtime.connect(_config(url), transport=transport, session=recorder):
                await recorder.wait_for("session.created")
                stop.set()
                closed = await recorder.wait_for(Closed)
    # No teardown delay: live connections are cancelled, not waited for.
    assert elapsed[0] < 0.5
    assert closed.code == 1006


async def test_serve_client_dropping_mid_message() -> None:
    got: list[Any] = []
    ended = anyio.Event()

    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        got.append(await socket.receive())
        ended.set()

    with anyio.fail_after(TIMEOUT):
        async with serve(handler) as url:
            port = int(url.split(":")[2].split("/")[0])
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with stream:
                await stream.send(
                    b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"
                )
                answer = b""
                while b"\r\n\r\n" not in answer:
                    answer += await stream.receive()
                assert answer.startswith(b"HTTP/1.1 101")
                # A masked text frame announcing 100 bytes, of which only 4 are sent.
                await stream.send(b"\x81\xe4\x00\x00\x00\x00abcd")
            await ended.wait()
    assert got == [Close(1006, "")] or (len(got) == 1 and got[0].code == 1006)


async def test_serve_records_raw_headers_and_any_path() -> None:
    fake = FakeRealtimeServer()
    transport = HttpxWsTransport()
    try:
        with anyio.fail_after(TIMEOUT):
            async with fake.serve() as url:
                async with realtime.connect(
                    _config(url, headers={"X-Custom": "Value"}), transport=transport
                ):
                    pass
                other = url.replace("/v1/realtime", "/other/path")
                with pytest.raises(realtime.ConnError) as info:
                    await realtime.connect(_config(other), transport=transport)
    finally:
        await transport.aclose()
    assert info.value.status_code == 404
    connection = fake.connections[0]
    assert connection.path == "/v1/realtime"
    assert ("X-Custom", "Value") in connection.headers.raw()
