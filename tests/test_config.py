from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

import realtime
from realtime import ConnError, ModelConfig
from realtime._config import USER_AGENT, build_request


async def test_default_url_and_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    request = await build_request(ModelConfig(), "gpt-realtime")
    assert request.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert request.headers == (
        ("Authorization", "Bearer sk-env"),
        ("User-Agent", USER_AGENT),
    )
    assert USER_AGENT.startswith("realtime-wire/")
    assert not any(name.lower() == "openai-beta" for name, _ in request.headers)


async def test_no_key_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    request = await build_request(ModelConfig(url="wss://gateway.example/v1/realtime"), "m")
    assert [name for name, _ in request.headers] == ["User-Agent"]


@pytest.mark.parametrize(
    "url", [realtime.DEFAULT_URL, "https://api.openai.com/v1/realtime/?model=x"]
)
async def test_no_key_for_the_service_fails_before_any_network(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConnError, match=r"^no API key: set OPENAI_API_KEY or pass api_key=$"):
        await build_request(ModelConfig(url=url), "m")
    # Nor through connect: the transport is never asked.
    asked: list[object] = []

    class Refuse:
        def connect(self, request: object) -> object:  # pragma: no cover - must not run
            asked.append(request)
            raise AssertionError("no network without a key")

    with pytest.raises(ConnError, match="no API key"):
        await realtime.connect(ModelConfig(url=url), transport=Refuse())  # type: ignore[arg-type]
    assert asked == []
    # A credential header of the caller's own is a key too.
    own = ModelConfig(url=url, headers={"Authorization": "Bearer sk-own"})
    assert ("Authorization", "Bearer sk-own") in (await build_request(own, "m")).headers


async def test_query_is_preserved_and_call_id_wins() -> None:
    config = ModelConfig(api_key="k", url="https://h.example/v1/realtime?api-version=2&x=1")
    request = await build_request(config, "m")
    parts = urlsplit(request.url)
    assert parts.scheme == "wss"
    assert parse_qsl(parts.query) == [("api-version", "2"), ("x", "1"), ("model", "m")]

    call = await build_request(ModelConfig(api_key="k", call_id="rtc_1"), "m")
    assert parse_qsl(urlsplit(call.url).query) == [("call_id", "rtc_1")]

    # A model already in the URL is not repeated.
    given = await build_request(ModelConfig(api_key="k", url="wss://h/v1/realtime?model=a"), "b")
    assert parse_qsl(urlsplit(given.url).query) == [("model", "a")]


async def test_user_headers_override_without_duplicates() -> None:
    config = ModelConfig(
        api_key="k", headers={"user-agent": "mine/1", "OpenAI-Beta": "realtime=v1", "X-A": "1"}
    )
    request = await build_request(config, "m")
    assert request.headers == (
        ("Authorization", "Bearer k"),
        ("user-agent", "mine/1"),
        ("OpenAI-Beta", "realtime=v1"),
        ("X-A", "1"),
    )


async def test_key_callables() -> None:
    async def async_key() -> str:
        return "sk-async"

    sync = await build_request(ModelConfig(api_key=lambda: "sk-sync"), "m")
    assert ("Authorization", "Bearer sk-sync") in sync.headers
    asynchronous = await build_request(ModelConfig(api_key=async_key), "m")
    assert ("Authorization", "Bearer sk-async") in asynchronous.headers
    with pytest.raises(ConnError, match="api_key must be a str"):
        await build_request(ModelConfig(api_key=lambda: 42), "m")  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("url", ["ftp://h/v1/realtime", "h/v1/realtime"])
async def test_bad_scheme(url: str) -> None:
    with pytest.raises(ConnError, match="unsupported URL scheme"):
        await build_request(ModelConfig(api_key="k", url=url), "m")


@pytest.mark.parametrize("url", ["ws://example.com/v1/realtime", "http://10.0.0.1:80/v1/realtime"])
async def test_cleartext_key_to_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ConnError, match="clear text") as info:
        await build_request(ModelConfig(api_key="sk-secret", url=url), "m")
    assert "sk-secret" not in str(info.value)
    allowed = await build_request(ModelConfig(api_key="k", url=url, allow_insecure=True), "m")
    assert allowed.url.startswith("ws://")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]", "app.localhost"])
async def test_cleartext_to_loopback_is_fine(host: str) -> None:
    request = await build_request(ModelConfig(api_key="k", url=f"ws://{host}:9/v1/realtime"), "m")
    assert request.url.startswith(f"ws://{host}:9/")


async def test_cleartext_without_key_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    request = await build_request(ModelConfig(url="ws://example.com/v1/realtime"), "m")
    assert request.url.startswith("ws://example.com/")


async def test_reprs_hide_secrets() -> None:
    config = ModelConfig(api_key="sk-very-secret", headers={"OpenAI-Project": "proj-secret"})
    assert "sk-very-secret" not in repr(config) and "proj-secret" not in repr(config)
    assert "OpenAI-Project" in repr(config)
    assert "api_key=None" in repr(ModelConfig())
    request = await build_request(config, "m")
    assert "sk-very-secret" not in repr(request) and "proj-secret" not in repr(request)
    assert "Authorization" in repr(request)
