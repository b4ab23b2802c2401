"""The recording proxy (``realtime fake record``): any client, the fake as the upstream."""

from __future__ import annotations

import json
import signal
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trustme

import realtime
from fakes import FakeRealtimeServer
from fakes._proxy import RecordingProxy
from realtime.transports import HttpxWsTransport, MemoryTransport
from tests._served import (
    announced_url,
    asyncio_only,
    call_output,
    realtime_command,
    respond_to,
    sdk_session,
    text_only,
    user_text,
)
from tests.test_session import add

UPSTREAM_KEY = "sk-proj-UPSTREAMSECRET0123456789"
TOOL = {
    "type": "function",
    "name": "add",
    "description": "Add two numbers.",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a"],
    },
}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def recorded(path: Path, direction: str) -> list[dict[str, Any]]:
    return [r["event"] for r in lines(path) if r["direction"] == direction]


async def tool_turn(url: str, *, key: str = "sk-test", transport: Any = None) -> Any:
    config = realtime.ModelConfig(api_key=key, url=url)
    async with realtime.Session(
        config, tools=[add], output_modalities=["text"], transport=transport
    ) as s:
        with anyio.fail_after(10):
            return await s.ask("2+3?")


def script(fake: FakeRealtimeServer) -> None:
    fake.reply_function_call("add", {"a": 2, "b": 3})
    fake.reply_text("Five.")


@asynccontextmanager
async def proxy_to(
    fake: FakeRealtimeServer,
    out: Path,
    upstream_url: str = "wss://x/v1/realtime",
    upstream_key: str | None = None,
) -> AsyncIterator[str]:
    """A recording proxy on 127.0.0.1 writing ``out``, whose upstream is ``fake`` over the
    memory transport (``upstream_url`` is what it believes it dials): the proxy's URL."""
    proxy = RecordingProxy(
        upstream_url, out, upstream_key=upstream_key, transport=MemoryTransport(fake)
    )
    async with proxy.serve() as url:
        yield url


@pytest.fixture
async def upstream(anyio_backend: str) -> AsyncIterator[FakeRealtimeServer]:
    fake = FakeRealtimeServer()
    script(fake)
    yield fake
    fake.check()


async def test_frames_are_forwarded_in_order_recorded_and_replayed(
    upstream: FakeRealtimeServer, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    transport = HttpxWsTransport()
    try:
        async with upstream.serve() as upstream_url:
            proxy = RecordingProxy(upstream_url, out, upstream_key=UPSTREAM_KEY)
            async with proxy.serve() as proxy_url:
                assert proxy_url.startswith("ws://127.0.0.1:")
                done = await tool_turn(proxy_url, transport=transport)
        assert done.text == "Five."
        # Unchanged and in order, both ways; the upstream saw the client's query and a
        # dummy key replaced by the upstream key.
        assert recorded(out, "client") == upstream.received
        assert recorded(out, "server") == upstream.sent
        seen = upstream.connections[0]
        assert seen.query == {"model": "gpt-realtime"}
        assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        assert seen.headers["user-agent"].startswith("realtime-wire/")
        assert seen.closed == (1000, "")
        text = out.read_text()
        assert UPSTREAM_KEY not in text and "sk-test" not in text
        meta = lines(out)[0]
        assert meta["direction"] == "meta" and meta["headers"]["Authorization"] == "***"
        assert meta["url"] == upstream_url + "?model=gpt-realtime"

        # Replayed, the same client flow receives the same server events.
        replay = FakeRealtimeServer.replay(out)
        async with replay.serve() as replay_url:
            again = await tool_turn(replay_url, transport=transport)
        replay.check()
        assert replay.sent == upstream.sent
        assert again.text == "Five."
    finally:
        await transport.aclose()


async def test_a_real_client_key_is_forwarded_and_binary_frames_pass(
    upstream: FakeRealtimeServer, tmp_path: Path
) -> None:
    long_key = "sk-client-REALLOOKINGKEY0123456789"
    upstream_url = "ws://upstream.invalid/v1/realtime"
    async with proxy_to(upstream, tmp_path / "rec.jsonl", upstream_url, UPSTREAM_KEY) as url:
        config = realtime.ModelConfig(api_key=long_key, url=url)
        async with realtime.connect(config, model="m") as conn:
            await conn.send_frame(realtime.BinaryFrame(b"\x00\x01"))
            with anyio.fail_after(10):
                async for event in conn:
                    if event.type == "error":
                        break
    assert upstream.connections[0].headers["authorization"] == f"Bearer {long_key}"
    # The fake answers a binary frame with an error: it arrived as binary.
    assert upstream.sent[-1]["error"]["message"].startswith("Binary frames are not supported")
    assert upstream.received == []  # nothing in text
    upstream.check(strict=False)
    upstream.reset()


async def test_an_azure_dummy_api_key_is_replaced_in_its_header(tmp_path: Path) -> None:
    fake = FakeRealtimeServer(api_key=UPSTREAM_KEY)
    azure = "wss://res.openai.azure.com/openai/v1/realtime?model=dep"
    async with proxy_to(fake, tmp_path / "rec.jsonl", azure, UPSTREAM_KEY) as url:
        config = realtime.ModelConfig.azure(url.removesuffix("/v1/realtime"), "dep", api_key="x")
        async with realtime.connect(config) as conn:
            with anyio.fail_after(10):
                async for event in conn:
                    if event.type == "session.created":
                        break
    seen = fake.connections[0]
    assert seen.headers["api-key"] == UPSTREAM_KEY
    assert "authorization" not in seen.headers
    assert seen.path == "/openai/v1/realtime" and seen.query == {"model": "dep"}
    assert lines(tmp_path / "rec.jsonl")[0]["headers"]["api-key"] == "***"


async def test_an_upstream_refusal_reaches_the_client_with_its_status_and_body(
    tmp_path: Path,
) -> None:
    fake = FakeRealtimeServer()
    async with fake.serve() as upstream_url:
        wrong_path = upstream_url.replace("/v1/realtime", "/v2/realtime")
        proxy = RecordingProxy(wrong_path, tmp_path / "rec.jsonl")
        async with proxy.serve() as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(realtime.ModelConfig(api_key="sk-test", url=url))
            raw = await raw_upgrade(url)
    assert caught.value.status_code == 404
    expected = {
        "error": {
            "message": "Invalid URL (GET /v2/realtime)",
            "type": "invalid_request_error",
            "code": None,
            "param": None,
        }
    }
    assert caught.value.body == expected
    assert raw[0] == 404 and json.loads(raw[1]) == expected


async def raw_upgrade(url: str) -> tuple[int, bytes]:
    """An upgrade request over a plain TCP stream, answer read by hand."""
    port = int(url.split(":")[2].split("/")[0])
    request = (
        b"GET /v1/realtime?model=m HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer sk-test\r\n\r\n"
    )
    data = b""
    with anyio.fail_after(10):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(request)
            while True:
                try:
                    data += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_an_unreachable_upstream_is_a_502(tmp_path: Path) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    proxy = RecordingProxy(f"ws://127.0.0.1:{port}/v1/realtime", tmp_path / "rec.jsonl")
    async with proxy.serve() as url:
        with pytest.raises(realtime.ConnError) as caught:
            await realtime.connect(realtime.ModelConfig(api_key="sk-test", url=url))
    assert caught.value.status_code == 502
    assert "cannot reach the upstream" in str(caught.value)


async def test_the_upstream_closing_reaches_the_client_with_its_code(
    upstream: FakeRealtimeServer, tmp_path: Path
) -> None:
    async with proxy_to(upstream, tmp_path / "rec.jsonl", "ws://x/v1/realtime") as url:
        config = realtime.ModelConfig(api_key="sk-test", url=url)
        async with realtime.connect(config) as conn:
            with anyio.fail_after(10):
                async for event in conn:
                    if event.type == "session.created":
                        await upstream.close_connections(4001, "bye now")
                    if isinstance(event, realtime.events.Closed):
                        closed = event
    assert (closed.code, closed.reason) == (4001, "bye now")
    upstream.check(strict=False)
    upstream.reset()


def test_a_bad_upstream_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        RecordingProxy("ftp://x", tmp_path / "r.jsonl")


# -- the official SDK as the client, over ws:// and wss:// --------------------------------------


@asyncio_only
@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_official_sdk_through_the_proxy(
    scheme: str, ca: trustme.CA, upstream: FakeRealtimeServer, tmp_path: Path
) -> None:
    server_ssl = client_ssl = None
    if scheme == "wss":
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
        client_ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ca.configure_trust(client_ssl)
    out = tmp_path / "rec.jsonl"
    async with (
        httpx.AsyncClient(verify=client_ssl or True) as http,
        upstream.serve(ssl=server_ssl) as upstream_url,
    ):
        assert upstream_url.startswith(f"{scheme}://")
        proxy = RecordingProxy(
            upstream_url, out, upstream_key=UPSTREAM_KEY, transport=HttpxWsTransport(http)
        )
        async with proxy.serve(ssl=server_ssl) as url:
            assert url.startswith(f"{scheme}://")
            events = await sdk_tool_turn(url, client_ssl)
    assert [e.type for e in events][-1] == "response.done"
    assert events[-1].response.output[0].content[0].text == "Five."
    assert recorded(out, "server") == upstream.sent
    assert recorded(out, "client") == upstream.received
    assert upstream.connections[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


async def sdk_tool_turn(url: str, client_ssl: ssl.SSLContext | None) -> list[Any]:
    """The SDK (with a dummy key) asks "2+3?" offering the ``add`` tool, and answers the call
    with 5: the events of both responses."""
    options = {"ssl": client_ssl} if client_ssl is not None else {}
    async with sdk_session(url, "sk-dummy", websocket_connection_options=options) as connection:
        await text_only(connection, TOOL)
        first = await respond_to(connection, user_text("2+3?"))
        assert first[-1].response.output[0].type == "function_call"
        call = next(e for e in first if e.type == "response.function_call_arguments.done")
        return first + await respond_to(connection, call_output(call.call_id, "5"))


# -- the command -----------------------------------------------------------------------------


async def test_the_command_records_and_ctrl_c_exits_0(
    upstream: FakeRealtimeServer, tmp_path: Path
) -> None:
    out = tmp_path / "cli.jsonl"
    async with upstream.serve() as upstream_url:
        argv = ["--upstream", upstream_url, "--upstream-key", UPSTREAM_KEY, "--port", "0"]
        with realtime_command("fake", "record", "--out", str(out), *argv) as process:
            url = await anyio.to_thread.run_sync(announced_url, process)
            assert url.startswith("ws://127.0.0.1:"), url
            done = await tool_turn(url)
            # Waited for in a worker thread: the upstream is served by this event loop.
            process.send_signal(signal.SIGINT)
            code = await anyio.to_thread.run_sync(lambda: process.wait(timeout=30))
            stdout, stderr = process.communicate()
    assert code == 0, stderr
    assert done.text == "Five."
    assert recorded(out, "server") == upstream.sent
    assert UPSTREAM_KEY not in out.read_text() and UPSTREAM_KEY not in stdout + stderr
    assert upstream.connections[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


async def test_the_beta_shape_passes_through_to_the_upstream(tmp_path: Path) -> None:
    fake = FakeRealtimeServer()
    out = tmp_path / "rec.jsonl"
    async with proxy_to(fake, out) as url:
        config = realtime.ModelConfig(
            api_key="sk-test", url=url, headers={"OpenAI-Beta": "realtime=v1"}
        )
        async with realtime.connect(config) as conn:
            with anyio.fail_after(10):
                events = [e async for e in conn]
    assert (events[-1].code, events[-1].reason) == (
        4000,
        "invalid_request_error.beta_api_shape_disabled",
    )
    assert [e["error"]["code"] for e in recorded(out, "server")] == ["beta_api_shape_disabled"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0", "--upstream", "wss://x/v1/realtime"], "loopback only"),
        (["--upstream", "ftp://x"], "ws:// or wss://"),
    ],
)
def test_the_command_refuses_bad_usage(argv: list[str], message: str, tmp_path: Path) -> None:
    import io

    from realtime.cli._cli import main

    err = io.StringIO()
    code = main(
        ["fake", "record", "--out", str(tmp_path / "r.jsonl"), *argv],
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 2
    assert message in err.getvalue()


async def test_frames_that_are_not_events_pass_unrecorded_and_a_drop_is_a_drop(
    tmp_path: Path,
) -> None:
    fake = FakeRealtimeServer()
    out = tmp_path / "rec.jsonl"
    async with proxy_to(fake, out) as url:
        config = realtime.ModelConfig(api_key="sk-test", url=url)
        async with realtime.connect(config) as conn:
            events: list[Any] = []
            with anyio.fail_after(10):
                async for event in conn:
                    events.append(event)
                    if event.type == "session.created":
                        await conn.send_frame(realtime.TextFrame("not json"))
                    elif event.type == "error":
                        await fake.send_raw("[1, 2]")
                    elif event.type == "realtime.frame_error":
                        await fake.drop_connections()
    error = next(e for e in events if e.type == "error")
    assert error.raw["error"]["code"] == "invalid_json"
    frame_error = next(e for e in events if e.type == "realtime.frame_error")
    assert frame_error.raw == "[1, 2]"
    assert events[-1].code == 1006
    assert [e["type"] for e in recorded(out, "server")] == ["session.created", "error"]
    assert recorded(out, "client") == []


async def test_a_plain_text_refusal_is_relayed_as_text(tmp_path: Path) -> None:
    from fakes._serve import serve

    async def refuse(socket: Any) -> None:
        await socket.reject(403, b"forbidden here", "text/plain")

    async with serve(refuse) as upstream_url:
        proxy = RecordingProxy(upstream_url, tmp_path / "rec.jsonl")
        async with proxy.serve() as url:
            with pytest.raises(realtime.ConnError) as caught:
                await realtime.connect(realtime.ModelConfig(api_key="sk-test", url=url))
    assert caught.value.status_code == 403
    assert caught.value.body == "forbidden here"
