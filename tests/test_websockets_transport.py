"""What is specific to WebsocketsTransport; the conformance suite runs over it through ``wire``.

Everything here but the trio refusal runs on asyncio only (the transport is asyncio-only).
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

import anyio
import pytest
import trustme

import realtime
from fakes import FakeRealtimeServer
from realtime.transports import WebsocketsTransport

from ._util import EventLog

TIMEOUT = 10.0


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


async def test_tls_trusted(
    ca: trustme.CA, server_ssl: ssl.SSLContext, transport: WebsocketsTransport
) -> None:
    client_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_ssl)
    fake = FakeRealtimeServer()
    recorder = EventLog()
    with anyio.fail_after(TIMEOUT):
        async with fake.serve(ssl=server_ssl) as url:
            assert url.startswith("wss://")
            tls = WebsocketsTransport(ssl=client_ssl)
            async with realtime.connect(_config(url), transport=tls, session=recorder):
                await recorder.wait_for("session.created")
    assert fake.connections[0].headers["authorization"] == "Bearer sk-test-key"


# -- the channel ---------------------------------------------------------------------------


def test_repr_has_no_secrets() -> None:
    assert repr(WebsocketsTransport()) == "WebsocketsTransport()"
