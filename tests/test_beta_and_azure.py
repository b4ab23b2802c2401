"""The retired beta shape (as the live service answers it), and Azure OpenAI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from realtime import ConnError, ModelConfig
from realtime._config import build_request
from realtime.events import ErrorEvent
from realtime.transports import MemoryTransport
from tests.conftest import Wire

DATA = Path(__file__).parent / "data"
BETA = {"OpenAI-Beta": "realtime=v1"}
BETA_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)
BETA_REASON = "invalid_request_error.beta_api_shape_disabled"
AZURE_KEY = "0123456789abcdef0123456789abcdef"

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


async def events_until_closed(conn: realtime.Connection) -> list[Any]:
    with anyio.fail_after(10):
        return [event async for event in conn]


# -- the retired beta shape --------------------------------------------------------------------


async def test_a_beta_shaped_handshake_gets_one_error_and_close_4000(wire: Wire) -> None:
    config = wire.config(headers=BETA)
    async with wire.connect(config) as conn:
        events = await events_until_closed(conn)
    server = [e for e in events if isinstance(e, realtime.events.ServerEventBase)]
    assert [e.type for e in server] == ["error"]
    error = server[0]
    assert isinstance(error, ErrorEvent)
    assert error.event_id.startswith("event_")
    assert error.raw["error"] == {
        "type": "invalid_request_error",
        "code": "beta_api_shape_disabled",
        "message": BETA_MESSAGE,
        "param": None,
        "event_id": None,
    }
    closed = events[-1]
    assert isinstance(closed, realtime.events.Closed)
    assert (closed.code, closed.reason) == (4000, BETA_REASON)
    assert wire.fake.connections[0].closed is not None
    assert not wire.fake.received  # nothing to answer: no session was created


async def test_beta_shape_wins_over_a_wrong_key_and_a_repeated_header() -> None:
    fake = FakeRealtimeServer(api_key="sk-right-key-0000")
    config = ModelConfig(api_key="sk-wrong-key-1111", headers={"OpenAI-Beta": "x=1, realtime=v1"})
    async with realtime.connect(config, transport=MemoryTransport(fake)) as conn:
        events = await events_until_closed(conn)
    assert events[-1].reason == BETA_REASON


async def test_another_openai_beta_value_is_ga(wire: Wire) -> None:
    async with wire.connect(wire.config(headers={"OpenAI-Beta": "assistants=v2"})) as conn:
        with anyio.fail_after(10):
            async for event in conn:
                if event.type == "session.created":
                    break


async def test_session_on_the_beta_shape_names_the_code_and_the_message(wire: Wire) -> None:
    s = realtime.Session(wire.config(headers=BETA), transport=wire.transport)
    with anyio.fail_after(10), pytest.raises(realtime.SessionError) as info:
        async with s:
            pass
    assert "beta_api_shape_disabled" in str(info.value)
    assert BETA_MESSAGE in str(info.value)


async def test_connect_on_the_beta_shape_names_the_code_and_the_message(wire: Wire) -> None:
    text = ""
    try:
        async with wire.connect(wire.config(headers=BETA)) as conn:
            events = await events_until_closed(conn)
        closed = events[-1]
        error = closed.server_error or {}
        text = f"{closed.code} {closed.reason} {error.get('code')}: {error.get('message')}"
    except ConnError as exc:
        text = str(exc)
    assert "beta_api_shape_disabled" in text
    assert BETA_MESSAGE in text


@asyncio_only
async def test_official_sdk_beta_realtime_learns_the_shape_is_retired(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    openai = pytest.importorskip("openai")
    from websockets.exceptions import ConnectionClosedError

    client = openai.AsyncOpenAI(
        api_key="sk-test", websocket_base_url=fake_realtime_url.removesuffix("/realtime")
    )
    with anyio.fail_after(10):
        async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as connection:
            event = await connection.recv()
            with pytest.raises(ConnectionClosedError) as info:
                await connection.recv()
    assert event.type == "error"
    assert event.error.code == "beta_api_shape_disabled"
    assert event.error.message == BETA_MESSAGE
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, BETA_REASON)
    assert fake_realtime.connections[0].headers["openai-beta"] == "realtime=v1"
    assert fake_realtime.connections[0].closed == (4000, BETA_REASON)


@asyncio_only
async def test_websockets_sees_101_then_exactly_one_frame_then_4000(
    fake_realtime_url: str,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    headers = {"Authorization": "Bearer sk-test", **BETA}
    with anyio.fail_after(10):
        async with connect(
            fake_realtime_url + "?model=gpt-realtime", additional_headers=headers
        ) as ws:
            assert ws.response is not None and ws.response.status_code == 101
            frames = [await ws.recv()]
            with pytest.raises(ConnectionClosedError) as info:
                frames.append(await ws.recv())
    assert len(frames) == 1
    event = json.loads(frames[0])
    assert set(event) == {"type", "event_id", "error"}
    assert event["error"]["code"] == "beta_api_shape_disabled"
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, BETA_REASON)


# -- Azure -------------------------------------------------------------------------------------


async def test_azure_config_builds_the_ga_url_and_the_api_key_header() -> None:
    config = ModelConfig.azure("https://my-res.openai.azure.com/", "my-realtime", api_key=AZURE_KEY)
    request = await build_request(config, "gpt-realtime")
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "wss",
        "my-res.openai.azure.com",
        "/openai/v1/realtime",
    )
    # The deployment is the model; the model given to connect() does not replace it.
    assert parse_qsl(parts.query) == [("model", "my-realtime")]
    assert dict(request.headers)["api-key"] == AZURE_KEY
    assert "Authorization" not in dict(request.headers)
    assert AZURE_KEY not in repr(config) and AZURE_KEY not in repr(request)


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("https://r.openai.azure.com/openai/v1", "wss://r.openai.azure.com/openai/v1/realtime"),
        (
            "https://r.openai.azure.com/openai/v1/realtime/",
            "wss://r.openai.azure.com/openai/v1/realtime",
        ),
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/openai/v1/realtime"),
        ("wss://gw.example/tenant", "wss://gw.example/tenant/openai/v1/realtime"),
    ],
)
async def test_azure_endpoint_forms(endpoint: str, url: str) -> None:
    request = await build_request(ModelConfig.azure(endpoint, "d", api_key="k"), None)
    assert request.url == url + "?model=d"


async def test_azure_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    request = await build_request(ModelConfig.azure("https://r.openai.azure.com", "d"), None)
    assert dict(request.headers)["api-key"] == AZURE_KEY
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    request = await build_request(ModelConfig.azure("https://r.openai.azure.com", "d"), None)
    assert "api-key" not in dict(request.headers)


async def test_azure_key_is_refused_in_clear_text_to_a_remote_host() -> None:
    config = ModelConfig.azure("http://r.openai.azure.com", "d", api_key=AZURE_KEY)
    with pytest.raises(ConnError, match="refusing to send the API key in clear text") as info:
        await build_request(config, None)
    assert AZURE_KEY not in str(info.value)
    allowed = ModelConfig.azure(
        "http://r.openai.azure.com", "d", api_key=AZURE_KEY, allow_insecure=True
    )
    assert (await build_request(allowed, None)).url.startswith("ws://")


async def test_azure_key_with_a_line_break_is_refused_without_echoing_it() -> None:
    config = ModelConfig.azure("https://r.openai.azure.com", "d", api_key=AZURE_KEY + "\n")
    with pytest.raises(ConnError, match="header 'api-key' contains a line break") as info:
        await build_request(config, None)
    assert AZURE_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("endpoint", "deployment"), [("ftp://x", "d"), ("r.openai", "d"), ("https://r", "")]
)
def test_azure_rejects_what_is_not_an_endpoint(endpoint: str, deployment: str) -> None:
    with pytest.raises(ValueError, match="Azure"):
        ModelConfig.azure(endpoint, deployment)


def azure_endpoint(wire: Wire) -> str:
    parts = urlsplit(wire.url)
    return f"{parts.scheme}://{parts.netloc}"


async def test_the_fake_serves_the_azure_path_and_checks_api_key(wire: Wire) -> None:
    wire.fake.api_key = AZURE_KEY
    config = ModelConfig.azure(azure_endpoint(wire), "my-realtime", api_key=AZURE_KEY)
    async with realtime.connect(config, transport=wire.transport) as conn:
        with anyio.fail_after(10):
            async for event in conn:
                if event.type == "session.created":
                    break
    first = wire.fake.connections[0]
    assert first.path == "/openai/v1/realtime"
    assert first.query == {"model": "my-realtime"}
    assert first.headers["api-key"] == AZURE_KEY
    assert AZURE_KEY not in json.dumps(wire.fake.journal())


async def test_the_fake_refuses_a_wrong_or_missing_api_key(wire: Wire) -> None:
    wire.fake.api_key = AZURE_KEY
    wrong = ModelConfig.azure(azure_endpoint(wire), "d", api_key="f" * 32)
    async with realtime.connect(wrong, transport=wire.transport) as conn:
        events = await events_until_closed(conn)
    assert [e.raw["error"]["code"] for e in events if isinstance(e, ErrorEvent)] == [
        "invalid_api_key"
    ]
    assert events[-1].code == 3000
    none = ModelConfig.azure(azure_endpoint(wire), "d", api_key="")
    async with realtime.connect(none, transport=wire.transport) as conn:
        events = await events_until_closed(conn)
    assert [e.raw["error"]["message"] for e in events if isinstance(e, ErrorEvent)] == [
        "Missing bearer or basic authentication in header"
    ]


async def test_the_azure_recording_replays_through_session_ask(tmp_path: Path) -> None:
    # A real Azure GA session: a question, a get_weather call, its output, the answer.
    @realtime.tool
    def get_weather(city: str) -> str:
        """Look up the weather for a city.

        Args:
            city: The city.
        """
        return f"It is foggy and 12 degrees in {city}."

    replay = FakeRealtimeServer.replay(DATA / "azure_tool_call_round.jsonl")
    recorder = realtime.Recorder(tmp_path / "azure.jsonl")
    config = ModelConfig.azure("https://res.openai.azure.com", "gpt-realtime", api_key=AZURE_KEY)
    async with realtime.Session(
        config,
        tools=[get_weather],
        output_modalities=["text"],
        transport=recorder.transport(MemoryTransport(replay)),
    ) as s:
        with anyio.fail_after(10):
            done = await s.ask("What is the weather in London?")
    recorder.close()
    replay.check()
    assert done.text == "It is foggy and 12 degrees in London."
    meta = json.loads((tmp_path / "azure.jsonl").read_text().splitlines()[0])
    assert meta["headers"]["api-key"] == "***"
    assert meta["url"] == "wss://res.openai.azure.com/openai/v1/realtime?model=gpt-realtime"
    assert AZURE_KEY not in (tmp_path / "azure.jsonl").read_text()
