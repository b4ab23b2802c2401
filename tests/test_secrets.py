"""Issue 10 §4: the key never shows in an exception, credentials in headers get the clear-text
refusal, and no transport follows a redirect, against peers we did not write."""

from __future__ import annotations

import json
import traceback
from typing import Any

import anyio
import httpx
import pytest

import realtime
from realtime import ConnError
from realtime._config import build_request, credentials
from realtime._errors import mask_secrets
from realtime.transports import HttpxWsTransport, MemoryTransport, ServerSocket, Transport

from .hostile import RawPeer, raw_server, websockets_server

TIMEOUT = 10.0
KEY = "sk-proj-Hostile0123456789abcdefXYZ"
# A key with no recognisable shape (an Azure key, say): masked because it was configured.
PLAIN_KEY = "f3a9c0d1e2b34c5d6e7f8091a2b3c4d5"


@pytest.fixture
def transport(any_network_transport: Transport) -> Transport:
    return any_network_transport


def _all_text(exc: BaseException) -> str:
    """Everything an app could print of the error: str, repr, body, the whole traceback."""
    body = getattr(exc, "body", None)
    return "\n".join(
        [
            str(exc),
            repr(exc),
            json.dumps(body) if not isinstance(body, str) else body,
            "".join(traceback.format_exception(exc)),
        ]
    )


def _config(url: str, **overrides: Any) -> realtime.ModelConfig:
    options: dict[str, Any] = {"api_key": KEY, "url": url, "ping_interval": None}
    options.update(overrides)
    return realtime.ModelConfig(**options)


def _echo_401(json_body: bool) -> Any:
    async def script(peer: RawPeer) -> None:
        sent = " and ".join(
            value for name, value in peer.headers if name.lower() in ("authorization", "api-key")
        )
        message = f"Incorrect API key provided: {sent}. You can find your API key at ..."
        if json_body:
            body = json.dumps(
                {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                        "param": None,
                        # Echoed twice more, as a key and deep inside.
                        "details": {sent: [[{"header": sent}]]},
                    }
                }
            ).encode()
            await peer.respond(401, body, [("Content-Type", "application/json")])
        else:
            await peer.respond(401, message.encode(), [("Content-Type", "text/plain")])

    return script


@pytest.mark.parametrize("json_body", [True, False], ids=["json", "text"])
async def test_key_echoed_in_401_is_masked(transport: Transport, json_body: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with raw_server(_echo_401(json_body)) as server:
            with pytest.raises(ConnError) as caught:
                await realtime.connect(_config(server.url), transport=transport)
    error = caught.value
    assert server.peers[0].header("authorization") == f"Bearer {KEY}"  # it was sent
    assert error.status_code == 401
    text = _all_text(error)
    assert KEY not in text
    if json_body:
        assert "Incorrect API key provided: Bearer ***" in str(error)
        assert error.error_code == "invalid_api_key"
    else:
        assert "Incorrect API key provided: Bearer ***" in error.body


async def test_configured_credential_of_any_shape_is_masked(transport: Transport) -> None:
    """An ``api-key`` header with a key that looks like nothing: masked as configured."""
    with anyio.fail_after(TIMEOUT):
        async with raw_server(_echo_401(True)) as server:
            config = _config(server.url, api_key=None, headers={"api-key": PLAIN_KEY})
            with pytest.raises(ConnError) as caught:
                await realtime.connect(config, transport=transport)
    assert server.peers[0].header("api-key") == PLAIN_KEY
    assert PLAIN_KEY not in _all_text(caught.value)
    assert "***" in str(caught.value)


async def test_websockets_server_echoing_the_key(transport: Transport, anyio_backend: str) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("the websockets server is asyncio-only")

    def process_request(connection: Any, request: Any) -> Any:
        echoed = request.headers["Authorization"]
        return connection.respond(401, f"Incorrect API key provided: {echoed}\n")

    async def handler(ws: Any) -> None:  # pragma: no cover - never upgraded
        await ws.close()

    with anyio.fail_after(TIMEOUT):
        async with websockets_server(handler, process_request=process_request) as url:
            with pytest.raises(ConnError) as caught:
                await realtime.connect(_config(url), transport=transport)
    assert caught.value.status_code == 401
    assert KEY not in _all_text(caught.value)
    assert "Bearer ***" in caught.value.body


async def test_error_body_nested_past_the_recursion_limit(transport: Transport) -> None:
    """A JSON body Python cannot decode is kept as text (no RecursionError), still masked."""
    depth = 20_000

    async def script(peer: RawPeer) -> None:
        body = f'{{"k": "Bearer {KEY}", "x": ' + "[" * depth + "]" * depth + "}"
        await peer.respond(401, body.encode())

    with anyio.fail_after(TIMEOUT):
        async with raw_server(script) as server:
            with pytest.raises(ConnError) as caught:
                await realtime.connect(_config(server.url), transport=transport)
    assert isinstance(caught.value.body, str)
    assert KEY not in _all_text(caught.value)


async def test_memory_transport_rejection_is_masked_too() -> None:
    async def handler(socket: ServerSocket) -> None:
        auth = dict(socket.headers)["Authorization"]
        await socket.reject(401, json.dumps({"error": {"message": f"bad: {auth}"}}).encode())

    config = realtime.ModelConfig(api_key=KEY)
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnError) as caught:
        await realtime.connect(config, transport=MemoryTransport(handler))
    assert KEY not in _all_text(caught.value)


# -- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_cross_origin_redirect_is_not_followed(transport: Transport, status: int) -> None:
    async def elsewhere(peer: RawPeer) -> None:  # pragma: no cover - must not be reached
        await peer.respond(500)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(elsewhere) as other:

            async def redirect(peer: RawPeer) -> None:
                await peer.respond(status, headers=[("Location", other.url)])

            async with raw_server(redirect) as server:
                config = _config(server.url, headers={"api-key": PLAIN_KEY})
                with pytest.raises(ConnError) as caught:
                    await realtime.connect(config, transport=transport)
    assert other.peers == []  # nothing, credentials least of all, went to the other origin
    error = caught.value
    assert error.status_code == status
    assert "redirect" in str(error)
    assert other.url in str(error)
    assert PLAIN_KEY not in _all_text(error)


async def test_httpx_client_set_to_follow_redirects_does_not(anyio_backend: str) -> None:
    async def elsewhere(peer: RawPeer) -> None:  # pragma: no cover - must not be reached
        await peer.respond(500)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(elsewhere) as other:

            async def redirect(peer: RawPeer) -> None:
                await peer.respond(307, headers=[("Location", other.url)])

            async with (
                raw_server(redirect) as server,
                httpx.AsyncClient(follow_redirects=True) as client,
            ):
                config = _config(server.url, headers={"api-key": PLAIN_KEY})
                with pytest.raises(ConnError, match="redirect"):
                    await realtime.connect(config, transport=HttpxWsTransport(client))
    assert other.peers == []


# -- clear text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "url", "what"),
    [
        ({"Authorization": f"Bearer {KEY}"}, "ws://example.com/v1/realtime", "Authorization"),
        ({"api-key": PLAIN_KEY}, "ws://example.com/v1/realtime", "api-key"),
        ({"API-KEY": PLAIN_KEY}, "http://10.1.2.3/v1/realtime", "API-KEY"),
        ({}, f"ws://user:{PLAIN_KEY}@example.com/v1/realtime", "password"),
    ],
)
async def test_credentials_in_headers_or_url_are_refused_in_clear_text(
    monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], url: str, what: str
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = realtime.ModelConfig(url=url, headers=headers)
    with pytest.raises(ConnError, match="clear text") as caught:
        await build_request(config, "m")
    assert what in str(caught.value)
    assert PLAIN_KEY not in _all_text(caught.value)
    assert KEY not in _all_text(caught.value)
    allowed = realtime.ModelConfig(url=url, headers=headers, allow_insecure=True)
    assert (await build_request(allowed, "m")).url.startswith("ws://")


async def test_credential_header_to_loopback_in_clear_text_is_fine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = realtime.ModelConfig(url="ws://127.0.0.1:9/v1/realtime", headers={"api-key": "x"})
    assert ("api-key", "x") in (await build_request(config, "m")).headers


async def test_other_headers_in_clear_text_are_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = realtime.ModelConfig(url="ws://example.com/v1/realtime", headers={"X-Trace": "1"})
    assert (await build_request(config, "m")).url.startswith("ws://example.com")


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (realtime.ModelConfig(api_key=KEY + "\n"), "the API key"),
        (realtime.ModelConfig(api_key="k", headers={"api-key": PLAIN_KEY + "\r\n"}), "api-key"),
        (realtime.ModelConfig(api_key="k", headers={"X-Bad\n": "v"}), "X-Bad"),
    ],
)
async def test_a_line_break_in_a_credential_is_refused_without_echo(
    config: realtime.ModelConfig, named: str
) -> None:
    """A key read from a file with its newline: HTTP libraries echo the bad header value in
    their errors, so it is refused before any of them sees it."""
    with pytest.raises(ConnError, match="line break") as caught:
        await build_request(config, "m")
    assert named in str(caught.value)
    assert KEY not in _all_text(caught.value)
    assert PLAIN_KEY not in _all_text(caught.value)


# -- the masking itself ----------------------------------------------------------------------


def test_mask_secrets() -> None:
    text = (
        f"Incorrect API key provided: Bearer {KEY}. bearer\tabc.def, {PLAIN_KEY}, "
        "sk-abcdef123, a task-force, key sk-1"
    )
    masked = mask_secrets(text, [PLAIN_KEY, "short"])
    assert KEY not in masked
    assert PLAIN_KEY not in masked
    assert "Bearer ***" in masked
    assert "bearer ***" in masked
    assert "sk-***" in masked
    assert "task-force" in masked  # not a key
    assert "sk-1" in masked  # too short to be one
    # A short configured secret is not masked by value: it would garble every message.
    assert mask_secrets("a short word", ["short"]) == "a short word"


def test_credentials_of_a_request() -> None:
    headers = (
        ("Authorization", f"Bearer {KEY}"),
        ("api-key", PLAIN_KEY),
        ("User-Agent", "x"),
        ("Proxy-Authorization", ""),
    )
    assert credentials(headers) == (KEY, PLAIN_KEY)


def test_conn_error_masks_message_body_and_drops_a_leaking_chain() -> None:
    body = {"error": {"message": f"no: {PLAIN_KEY}"}, PLAIN_KEY: [f"Bearer {KEY}"]}
    try:
        try:
            raise ValueError(f"Illegal header value b'{PLAIN_KEY}\\n'")
        except ValueError as inner:
            raise ConnError(f"failed: {PLAIN_KEY}", body=body) from inner
    except ConnError as caught:
        error = caught
    error.mask([PLAIN_KEY])
    assert PLAIN_KEY not in _all_text(error)
    assert KEY not in _all_text(error)
    assert error.__cause__ is None
    # A chain that shows nothing secret is kept.
    try:
        try:
            raise OSError("connection refused")
        except OSError as inner:
            raise ConnError("could not connect") from inner
    except ConnError as caught:
        kept = caught
    kept.mask([PLAIN_KEY])
    assert isinstance(kept.__cause__, OSError)


def test_conn_error_body_nested_deeply_is_masked_without_recursion() -> None:
    body: Any = f"Bearer {KEY}"
    for _ in range(50_000):
        body = [body]
    error = ConnError("refused", body=body)
    node = error.body
    while isinstance(node, list):
        node = node[0]
    assert node == "Bearer ***"


@pytest.mark.parametrize(
    "body",
    [{"error": {"message": f"bad key {PLAIN_KEY}"}}, {"message": f"bad key {PLAIN_KEY}"}],
    ids=["error.message", "message"],
)
def test_conn_error_says_the_servers_message_masked(body: dict[str, Any]) -> None:
    # An HTTP refusal's body has its message under "error" (OpenAI) or at the top (a proxy).
    error = ConnError("handshake refused", body=body, secrets=[PLAIN_KEY])
    assert str(error) == "handshake refused: bad key ***"
    assert error.error_code is None
