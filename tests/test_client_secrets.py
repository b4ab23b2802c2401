"""Ephemeral client secrets: ``realtime.create_client_secret`` against the served fake (both
backends), the fake's two mint endpoints against the official SDK (asyncio only), and the
minted ``ek_`` keys on the WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from pydantic import TypeAdapter

import realtime
from fakes import FakeClock, FakeRealtimeServer
from realtime.events import Closed, ErrorEvent, SessionCreatedEvent
from tests._util import EventLog

openai = pytest.importorskip("openai")
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])

KEY = "sk-secret-backend-key-0123456789"
START = 1_800_000_000


@pytest.fixture
async def served(anyio_backend: str) -> AsyncIterator[tuple[FakeRealtimeServer, str]]:
    fake = FakeRealtimeServer(api_key=KEY, clock=FakeClock(START))
    async with fake.serve() as url:
        yield fake, url


def _config(url: str, key: str = KEY) -> realtime.ModelConfig:
    return realtime.ModelConfig(api_key=key, url=url)


async def _first_events(url: str, key: str, *, until: str | type = "session.created") -> EventLog:
    log = EventLog()
    with anyio.fail_after(10):
        async with realtime.connect(_config(url, key), model="gpt-realtime", session=log):
            await log.wait_for(until)
    return log


async def test_a_minted_key_opens_a_session_with_the_minted_configuration(
    served: tuple[FakeRealtimeServer, str],
) -> None:
    fake, url = served
    with anyio.fail_after(10):
        secret = await realtime.create_client_secret(
            _config(url),
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "output_modalities": ["text"],
            },
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    assert secret.value.startswith("ek_")
    assert secret.expires_at == START + 60
    assert secret.session["instructions"] == "Be brief."
    assert secret.value not in repr(secret) and "ek_***" in repr(secret)
    log = await _first_events(url, secret.value)
    created = log.events[1] if log.types[0] == "realtime.connected" else log.events[0]
    assert isinstance(created, SessionCreatedEvent)
    assert created.session["instructions"] == "Be brief."
    assert created.session["output_modalities"] == ["text"]
    # The key itself never reaches the journal; the mint does.
    assert fake.journal()["http"] == [
        {"method": "POST", "path": "/v1/realtime/client_secrets", "status": 200}
    ]
    assert secret.value not in json.dumps(fake.journal())


async def test_an_expired_or_unknown_key_is_refused_like_a_wrong_key(
    served: tuple[FakeRealtimeServer, str],
) -> None:
    fake, url = served
    with anyio.fail_after(10):
        secret = await realtime.create_client_secret(_config(url))
    assert secret.expires_at == START + 600  # the default lifetime
    assert isinstance(fake.clock, FakeClock)
    fake.clock.advance(599)
    await _first_events(url, secret.value)  # still good one second before
    fake.clock.advance(1)
    for key in (secret.value, "ek_" + "0" * 32):
        log = await _first_events(url, key, until=Closed)
        error = next(e for e in log.events if isinstance(e, ErrorEvent))
        assert error.error["code"] == "invalid_api_key"
        assert key not in str(error.to_dict())
        closed = log.events[-1]
        assert isinstance(closed, Closed) and closed.code == 3000


async def test_a_refusal_is_a_conn_error_with_status_and_body_and_no_key(
    served: tuple[FakeRealtimeServer, str],
) -> None:
    fake, url = served
    wrong = "sk-wrong-key-abcdefghijklmnop"
    with anyio.fail_after(10), pytest.raises(realtime.ConnError) as refused:
        await realtime.create_client_secret(_config(url, wrong))
    assert refused.value.status_code == 401
    assert refused.value.error_code == "invalid_api_key"
    assert wrong not in str(refused.value) and wrong not in json.dumps(refused.value.body)
    with anyio.fail_after(10), pytest.raises(realtime.ConnError) as bad:
        await realtime.create_client_secret(
            _config(url), expires_after={"anchor": "created_at", "seconds": 5}
        )
    assert bad.value.status_code == 400
    assert bad.value.body["error"]["param"] == "expires_after.seconds"
    with anyio.fail_after(10), pytest.raises(realtime.ConnError) as unknown:
        await realtime.create_client_secret(
            _config(url), session={"type": "realtime", "voices": "alloy"}
        )
    assert unknown.value.body["error"]["code"] == "unknown_parameter"
    # A minted key cannot mint another.
    secret = await realtime.create_client_secret(_config(url))
    with anyio.fail_after(10), pytest.raises(realtime.ConnError) as chained:
        await realtime.create_client_secret(_config(url, secret.value))
    assert chained.value.status_code == 401
    assert secret.value not in str(chained.value)
    assert [r["status"] for r in fake.journal()["http"]] == [401, 400, 400, 200, 401]


async def test_translation_secrets(served: tuple[FakeRealtimeServer, str]) -> None:
    fake, url = served
    with anyio.fail_after(10):
        secret = await realtime.create_client_secret(
            _config(url),
            session={"model": "gpt-realtime-translate", "audio": {"output": {"language": "fr"}}},
            translation=True,
        )
        with pytest.raises(realtime.ConnError) as missing:
            await realtime.create_client_secret(_config(url), translation=True)
    assert secret.session["type"] == "translation"
    assert secret.session["audio"]["output"]["language"] == "fr"
    assert missing.value.status_code == 400
    assert missing.value.body["error"]["param"] == "session"
    # A translation key does not open a realtime session.
    log = await _first_events(url, secret.value, until=Closed)
    assert any(isinstance(e, ErrorEvent) for e in log.events)
    paths = [r["path"] for r in fake.journal()["http"]]
    assert paths == ["/v1/realtime/translations/client_secrets"] * 2


async def test_no_key_in_clear_text_and_no_key_in_network_errors() -> None:
    remote = realtime.ModelConfig(api_key=KEY, url="ws://example.invalid/v1/realtime")
    with pytest.raises(realtime.ConnError, match="clear text"):
        await realtime.create_client_secret(remote)
    # Nothing listens there: the error names the failure, not the key.
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
    closed = realtime.ModelConfig(api_key=KEY, url=f"ws://127.0.0.1:{port}/v1/realtime")
    with anyio.fail_after(10), pytest.raises(realtime.ConnError) as failed:
        await realtime.create_client_secret(closed)
    assert KEY not in str(failed.value) and failed.value.status_code is None
    assert "client_secrets" in str(failed.value)


async def test_a_malformed_answer_is_reported_by_shape_only(anyio_backend: str) -> None:
    from fakes._serve import HttpRequest, HttpResponse, serve

    async def not_a_secret(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, json.dumps({"value": "ek_leaked-value-123456"}).encode())

    async def no_ws(socket: Any) -> None:  # pragma: no cover - only HTTP is requested
        await socket.reject(404)

    async with serve(no_ws, http=not_a_secret) as url:
        with anyio.fail_after(10), pytest.raises(realtime.ConnError) as bad:
            await realtime.create_client_secret(_config(url))
    assert "ek_leaked" not in str(bad.value) and "['value']" in str(bad.value)


def test_client_secret_repr_hides_the_value() -> None:
    secret = realtime.ClientSecret(value="ek_abcdef0123456789", expires_at=1, session={})
    assert "ek_abcdef" not in repr(secret)
    assert "ek_abcdef" not in str(secret)


def _sdk(url: str, key: str = KEY) -> Any:
    http = "http" + url.removeprefix("ws").removesuffix("/realtime")
    return openai.AsyncOpenAI(
        api_key=key, base_url=http, websocket_base_url=url.removesuffix("/realtime")
    )


@asyncio_only
async def test_official_sdk_mints_and_connects_with_the_minted_key(
    served: tuple[FakeRealtimeServer, str],
) -> None:
    from openai.types.realtime import (
        ClientSecretCreateResponse,
        RealtimeTranslationClientSecretCreateResponse,
    )

    fake, url = served
    with anyio.fail_after(20):
        minted = await _sdk(url).realtime.client_secrets.create(
            session={"type": "realtime", "model": "gpt-realtime", "instructions": "Hi there."},
            expires_after={"anchor": "created_at", "seconds": 120},
        )
        raw = await _sdk(url).realtime.client_secrets.with_raw_response.create(
            session={"type": "transcription"}
        )
        translated = await _sdk(url).realtime.translations.client_secrets.create(
            session={"model": "gpt-realtime-translate", "audio": {"output": {"language": "de"}}}
        )
        async with _sdk(url, minted.value).realtime.connect(model="gpt-realtime") as connection:
            created = await connection.recv()
        with pytest.raises(openai.AuthenticationError):
            await _sdk(url, "sk-nope-nope-nope-nope").realtime.client_secrets.create()
    assert minted.value.startswith("ek_") and minted.expires_at == START + 120
    assert minted.session.type == "realtime"
    assert created.type == "session.created"
    assert created.session.instructions == "Hi there."
    # Strictly the SDK's response types, field for field.
    body = json.loads(raw.http_response.text)
    TypeAdapter(ClientSecretCreateResponse).validate_python(body, strict=True)
    assert body["session"]["type"] == "transcription"
    assert translated.session.audio.output is not None
    assert translated.session.audio.output.language == "de"
    TypeAdapter(RealtimeTranslationClientSecretCreateResponse).validate_python(
        translated.model_dump(mode="json"), strict=True
    )
    assert [r["status"] for r in fake.journal()["http"]] == [200, 200, 200, 401]


def test_translation_session_updates_are_checked_like_the_sdk_types() -> None:
    from fakes._errors import ClientError
    from fakes._translation import apply_translation_update, default_translation_session

    session = default_translation_session("sess_1", "gpt-realtime-translate", 100)
    audio = {
        "input": {
            "transcription": {"model": "gpt-4o-transcribe"},
            "noise_reduction": {"type": "near_field", "strength": 0.5},
        },
        "output": {"language": "es"},
    }
    updated = apply_translation_update(session, {"type": "translation", "audio": audio})
    assert updated["audio"] == audio and session["audio"]["output"]["language"] == "en"
    kept = apply_translation_update(
        updated, {"model": "x", "audio": {"input": {"noise_reduction": {"type": "far_field"}}}}
    )
    assert kept["model"] == "gpt-realtime-translate"
    assert kept["audio"]["input"]["noise_reduction"] == {"type": "far_field", "strength": 0.5}
    off = apply_translation_update(
        kept, {"audio": {"input": {"transcription": None, "noise_reduction": None}}}
    )
    assert off["audio"]["input"] == {"transcription": None, "noise_reduction": None}
    assert apply_translation_update(off, {}) == off
    refused = [
        ({"type": "realtime"}, "session.type"),
        ({"instructions": "x"}, "session.instructions"),
        ({"audio": {"output": {"voice": "alloy"}}}, "session.audio.output.voice"),
        ({"audio": {"input": {"transcription": {}}}}, "session.audio.input.transcription.model"),
        ({"audio": {"input": {"noise_reduction": {}}}}, "session.audio.input.noise_reduction.type"),
        (
            {"audio": {"input": {"noise_reduction": {"type": "loud"}}}},
            "session.audio.input.noise_reduction.type",
        ),
        ({"audio": {"output": {"language": 3}}}, "session.audio.output.language"),
        ({"audio": []}, "session.audio"),
    ]
    for update, param in refused:
        with pytest.raises(ClientError) as error:
            apply_translation_update(session, update)
        assert error.value.param == param, update


async def test_the_mint_endpoints_refuse_bad_requests(
    served: tuple[FakeRealtimeServer, str],
) -> None:
    import httpx

    fake, url = served
    base = "http" + url.removeprefix("ws").removesuffix("/realtime")
    auth = {"Authorization": f"Bearer {KEY}"}
    cases: list[tuple[str, str, Any, dict[str, str], int, str | None]] = [
        ("GET", "/realtime/client_secrets", None, auth, 405, None),
        ("POST", "/realtime/client_secrets", b"{nope", auth, 400, None),
        ("POST", "/realtime/client_secrets", b"[]", auth, 400, None),
        ("POST", "/realtime/client_secrets", b'{"x": 1}', auth, 400, "x"),
        ("POST", "/realtime/client_secrets", b"{}", {}, 401, None),
        (
            "POST",
            "/realtime/client_secrets",
            b'{"expires_after": {"anchor": "now"}}',
            auth,
            400,
            "expires_after.anchor",
        ),
        (
            "POST",
            "/realtime/client_secrets",
            b'{"expires_after": {"seconds": "60"}}',
            auth,
            400,
            "expires_after.seconds",
        ),
        (
            "POST",
            "/realtime/client_secrets",
            b'{"expires_after": {"secs": 60}}',
            auth,
            400,
            "expires_after.secs",
        ),
        (
            "POST",
            "/realtime/translations/client_secrets",
            b'{"session": {"audio": {}}}',
            auth,
            400,
            "session.model",
        ),
        (
            "POST",
            "/realtime/client_secrets",
            b'{"session": {"type": "transcription"}}',
            auth,
            200,
            None,
        ),
    ]
    async with httpx.AsyncClient(base_url=base) as http:
        for method, path, body, headers, status, param in cases:
            with anyio.fail_after(10):
                answer = await http.request(method, path, content=body, headers=headers)
            assert answer.status_code == status, (path, body, answer.text)
            if status != 200:
                assert "error" in answer.json()
            if param is not None:
                assert answer.json()["error"]["param"] == param
    assert answer.json()["session"]["type"] == "transcription"
    assert len(fake.journal()["http"]) == len(cases)
