"""What is specific to HttpxWsTransport (its client, call_id, the cleartext guard, TLS with a
given client), and the loopback server it is tested against. The behaviour every network
transport shares is in ``test_transport_conformance.py``."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
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

from ._util import EventLog

TIMEOUT = 10.0


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


async def test_tls_trusted(ca: trustme.CA, server_ssl: ssl.SSLContext) -> None:
    client_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_ssl)
    fake = FakeRealtimeServer()
    recorder = EventLog()
    async with httpx.AsyncClient(verify=client_ssl) as client:
        with anyio.fail_after(TIMEOUT):
            async with fake.serve(ssl=server_ssl) as url:
                assert url.startswith("wss://")
                transport = HttpxWsTransport(client)
                async with realtime.connect(_config(url), transport=transport, session=recorder):
                    await recorder.wait_for("session.created")
    assert fake.connections[0].headers["authorization"] == "Bearer sk-test-key"


# -- closing -------------------------------------------------------------------------------


# -- keepalive -----------------------------------------------------------------------------


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


# -- the server ----------------------------------------------------------------------------


async def test_serve_handler_failure_closes_1011(transport: HttpxWsTransport) -> None:
    async def handler(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_text(_session_created())
        raise RuntimeError("boom")

    recorder = EventLog()
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
    recorder = EventLog()
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
