"""The HTTP control plane under ``/_fake/``, on the served fake's own host and port: every path,
body error and fault, over real HTTP (httpx) and WebSocket (the core's httpx-ws transport), on
asyncio and trio."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from fakes import FakeRealtimeServer
from fakes._control import ControlPlane
from fakes._serve import HttpRequest
from fakes._server import is_loopback
from realtime import ConnectRequest
from realtime.transports import HttpxWsTransport
from tests.fake_client import DEFAULT_HEADERS, TEXT_SESSION, Client, connect, types, user_text


@asynccontextmanager
async def served(fake: FakeRealtimeServer) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The fake served on loopback: its WebSocket URL and an HTTP client for its port."""
    async with fake.serve() as url:
        base = url.replace("ws://", "http://").removesuffix("/v1/realtime")
        async with httpx.AsyncClient(base_url=base) as http:
            yield url, http


@asynccontextmanager
async def ws(
    url: str, *, query: str = "?model=gpt-realtime", headers: Sequence[tuple[str, str]] = ()
) -> AsyncIterator[Client]:
    transport = HttpxWsTransport()
    request = ConnectRequest(url=url + query, headers=tuple(headers) or DEFAULT_HEADERS)
    try:
        async with transport.connect(request) as channel:
            client = Client(channel)
            assert (await client.recv())["type"] == "session.created"
            yield client
            if client.close is None:
                await channel.send_close(1000, "")
    finally:
        await transport.aclose()


@asynccontextmanager
async def ws_raw(url: str) -> AsyncIterator[Client]:
    """A connection to the served fake; nothing read yet."""
    transport = HttpxWsTransport()
    request = ConnectRequest(url=url + "?model=gpt-realtime", headers=DEFAULT_HEADERS)
    try:
        async with transport.connect(request) as channel:
            yield Client(channel)
    finally:
        await transport.aclose()


async def _ask(client: Client, text: str) -> list[dict[str, Any]]:
    await client.send(user_text(text))
    await client.send({"type": "response.create"})
    return await client.until("response.done")


async def test_script_run_inspect_check_reset_over_http() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with served(fake) as (url, http):
            steps = [
                {"text": "Hello!"},
                {
                    "outputs": [
                        {"text": "Checking."},
                        {"function_call": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
                    ]
                },
            ]
            answer = await http.post("/_fake/script", json=steps)
            assert (answer.status_code, answer.json()) == (200, {"queued": 2})
            async with ws(
                url,
                headers=[("Authorization", "Bearer sk-secret"), ("OpenAI-Project", "p1")],
            ) as client:
                await client.send(TEXT_SESSION)
                first = await _ask(client, "hi")
                second = await _ask(client, "weather in Oslo?")
                live = (await http.get("/_fake/journal")).json()
            check = await http.get("/_fake/check")
            closed = (await http.get("/_fake/journal")).json()
            reset = await http.post("/_fake/reset")
            after = (await http.get("/_fake/journal")).json()
    assert first[-1]["response"]["output"][0]["content"][0]["text"] == "Hello!"
    assert [o["type"] for o in second[-1]["response"]["output"]] == ["message", "function_call"]
    (connection,) = live["connections"]
    assert connection["path"] == "/v1/realtime"
    assert connection["query"] == {"model": "gpt-realtime"}
    assert connection["headers"]["authorization"] == "Bearer <redacted>"
    assert connection["headers"]["openai-project"] == "p1"
    assert "sk-secret" not in json.dumps(live)
    assert connection["received"][0] == TEXT_SESSION
    assert [e["type"] for e in connection["received"]] == [
        "session.update",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
    ]
    assert connection["sent"][: len(client.events)] == client.events  # the events themselves
    assert connection["closed"] is None
    assert live["http"] == []  # the control plane's own requests are not journaled
    assert (check.status_code, check.json()) == (200, {"ok": True})
    assert closed["connections"][0]["closed"] == [1000, ""]
    assert reset.status_code == 200
    assert after == {"connections": [], "http": []}


async def test_rules_over_http_and_check_lists_what_was_not_used() -> None:
    fake = FakeRealtimeServer()
    rule = {"when": {"contains": "weather"}, "reply": {"text": "Sunny."}, "times": 2}
    tool_rule = {"when": {"tool_output_of": "get_weather"}, "reply": {"text": "Done."}}
    with anyio.fail_after(10):
        async with served(fake) as (url, http):
            assert (await http.post("/_fake/rules", json=rule)).json() == {"rules": 1}
            assert (await http.post("/_fake/rules", json=tool_rule)).status_code == 200
            await http.post("/_fake/script", json=[{"transcribe": "never heard"}])
            async with ws(url) as client:
                await client.send(TEXT_SESSION)
                done = await _ask(client, "What WEATHER today?")
            check = await http.get("/_fake/check")
    assert done[-1]["response"]["output"][0]["content"][0]["text"] == "Sunny."
    assert check.status_code == 409
    assert check.json() == {
        "ok": False,
        "failures": [],
        "unused": [{"transcribe": "never heard"}, rule],
    }


async def test_a_failure_is_told_to_the_client_and_reported_by_check() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with served(fake) as (url, http):
            call = {"function_call": {"name": "launch_rockets", "arguments": "{}"}}
            await http.post("/_fake/script", json=[call, {"text": "unused"}])
            async with ws(url) as client:
                await client.send({"type": "response.create"})
                close = await client.closed()
            check = await http.get("/_fake/check")
            journal = (await http.get("/_fake/journal")).json()
    error = next(e for e in client.events if e["type"] == "error")
    assert error["error"]["type"] == "server_error"
    assert "declared no function tool named 'launch_rockets'" in error["error"]["message"]
    assert close.code == 1011
    assert (
        close.reason
        == "fake: the script calls function 'launch_rockets', which the app never declared"
    )
    body = check.json()
    assert check.status_code == 409 and body["ok"] is False
    assert len(body["failures"]) == 1 and "'launch_rockets'" in body["failures"][0]
    assert body["unused"] == [{"text": "unused"}]
    assert journal["connections"][0]["closed"] == [1011, close.reason]
    with pytest.raises(AssertionError, match="launch_rockets"):
        fake.check()


async def test_faults_over_http() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with served(fake) as (url, http):
            async with ws(url) as client:
                answer = await http.post("/_fake/faults", json={"raw": '{"type": "odd.event"}'})
                assert answer.json() == {"applied": "raw"}
                assert await client.recv() == {"type": "odd.event"}
                await http.post("/_fake/faults", json={"close": {"code": 4001, "reason": "bye"}})
                closed = await client.closed()
            async with ws(url) as client:
                await http.post("/_fake/faults", json={"drop": {}})
                dropped = await client.closed()
            async with ws(url) as client:
                await http.post("/_fake/faults", json={"expire_after": 0})
                expired = await client.recv()
                expiry_close = await client.closed()
            latency = await http.post("/_fake/faults", json={"latency": 0.001})
            assert fake.latency == 0.001 and latency.status_code == 200
            async with ws(url) as client:
                # Expiry applies to later connections too.
                assert (await client.recv())["error"]["code"] == "session_expired"
            await http.post("/_fake/reset")
            assert (fake.latency, fake.session_limit) == (0.0, None)
            async with ws(url) as client:
                await client.send({"type": "input_audio_buffer.clear"})
                assert (await client.recv())["type"] == "input_audio_buffer.cleared"
    assert (closed.code, closed.reason) == (4001, "bye")
    assert dropped.code == 1006
    assert expired["error"]["code"] == "session_expired"
    assert expiry_close.code == 1001


async def test_reset_cancels_a_pending_expiry_of_a_live_connection() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with served(fake) as (url, http), ws(url) as client:
            await http.post("/_fake/faults", json={"expire_after": 3600})
            await http.post("/_fake/reset")
            await client.send({"type": "input_audio_buffer.clear"})
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
            assert fake.connections[0].received == [{"type": "input_audio_buffer.clear"}]


async def test_expiry_never_precedes_session_created() -> None:
    # Expiry at 0 seconds with latency injected: session.created and the expiry's error both
    # wait out the latency; trio wakes the timers of one batch in either order, so with expiry
    # counted from the accept (the bug) about one session in four opened with the error.
    fake = FakeRealtimeServer(latency=0.001)
    fake.expire_sessions_after(0)
    firsts: list[list[str]] = []
    with anyio.fail_after(20):
        async with served(fake) as (url, _):
            for _ in range(12):
                async with ws_raw(url) as client:
                    firsts.append(types([await client.recv(), await client.recv()]))
                    await client.closed()
    assert firsts == [["session.created", "error"]] * 12


async def test_reset_cancels_an_expiry_not_yet_started() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with connect(fake) as client:
            # No yield in between: the expiry's task has not run its first step when the reset
            # cancels it (the bug: it entered a fresh, uncancelled scope and expired the session).
            fake.expire_sessions_after(0)
            fake.reset()
            await client.send({"type": "input_audio_buffer.clear"})
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
            await client.send({"type": "input_audio_buffer.clear"})
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
            assert fake.live_connections == fake.connections


async def test_a_connection_the_fake_closed_is_no_longer_live() -> None:
    # The close is the fake's own act: it shows at once, not when (or if) the client's echo
    # comes back; a later fault must not reach a connection that is closing.
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with connect(fake) as client:
            await fake.close_connections(4001, "bye")
            assert fake.live_connections == []
            assert fake.journal()["connections"][0]["closed"] == [4001, "bye"]
            await fake.drop_connections()
            close = await client.closed()
    assert (close.code, close.reason) == (4001, "bye")
    assert fake.connections[0].closed == (4001, "bye")


BAD_REQUESTS = [
    ("POST", "/_fake/script", None, 400, "no body"),
    ("POST", "/_fake/script", b"{nope", 400, "not JSON"),
    ("POST", "/_fake/script", b"\xff\xfe", 400, "not UTF-8 JSON"),
    ("POST", "/_fake/script", b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
    ("POST", "/_fake/script", {"text": "x"}, 400, "takes a JSON list of STEPs"),
    ("POST", "/_fake/script", [{"txt": "x"}], 400, r"\[0\]: expected one kind of step"),
    ("POST", "/_fake/script", [{"audio_wav": "a.wav"}], 400, "only script files"),
    ("POST", "/_fake/rules", {"when": {}, "reply": {"text": "a"}}, 400, "give 'contains'"),
    ("POST", "/_fake/rules", [], 400, "the rule: expected an object"),
    ("POST", "/_fake/faults", {"explode": {}}, 400, "a fault is one of"),
    ("POST", "/_fake/faults", {"drop": {}, "raw": "x"}, 400, "a fault is one of"),
    ("POST", "/_fake/faults", [], 400, "a fault is one of"),
    ("POST", "/_fake/faults", {"close": {"code": 1006}}, 400, "1006 cannot be sent"),
    ("POST", "/_fake/faults", {"close": {"code": 999}}, 400, "999 cannot be sent"),
    ("POST", "/_fake/faults", {"close": {"code": "1000"}}, 400, "close.code: expected an int"),
    ("POST", "/_fake/faults", {"close": {"code": 1000, "why": ""}}, 400, "close: expected"),
    ("POST", "/_fake/faults", {"close": {"reason": 5}}, 400, "close.reason: expected a str"),
    ("POST", "/_fake/faults", {"close": {"reason": "é" * 62}}, 400, "at most 123 bytes"),
    ("POST", "/_fake/faults", {"drop": {"now": True}}, 400, "drop takes no options"),
    ("POST", "/_fake/faults", {"raw": 5}, 400, "raw: expected the text frame"),
    ("POST", "/_fake/faults", {"expire_after": "soon"}, 400, "expire_after: expected a number"),
    ("POST", "/_fake/faults", {"latency": -1}, 400, "latency: expected 0 or more"),
    ("POST", "/_fake/faults", {"latency": True}, 400, "latency: expected a number"),
    ("POST", "/_fake/faults", b'{"latency": NaN}', 400, "latency: expected a number"),
    ("GET", "/_fake/nope", None, 404, r"no such path: /_fake/nope \(paths: POST /_fake/script"),
    ("GET", "/_fake", None, 404, "no such path"),
    ("GET", "/_fake/script", None, 405, "GET /_fake/script: use POST"),
    ("POST", "/_fake/journal", b"{}", 405, "use GET"),
    ("DELETE", "/_fake/reset", None, 405, "use POST"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD_REQUESTS)
async def test_bad_requests_name_the_problem(
    method: str, path: str, body: Any, status: int, message: str
) -> None:
    fake = FakeRealtimeServer()
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    with anyio.fail_after(10):
        async with served(fake) as (_, http):
            answer = await http.request(method, path, content=content)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert "error" in answer.json()
    assert re.search(message, answer.json()["error"]), answer.json()
    assert not fake.script.replies and not fake.script.rules  # nothing half-applied


async def test_other_http_requests_are_refused_and_journaled() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with served(fake) as (url, http):
            plain = await http.get("/v1/realtime")
            other = await http.post("/v1/realtime/sessions", content=b"{}")
            with pytest.raises(Exception):  # noqa: B017 - the upgrade is refused
                async with ws(url.replace("/v1/realtime", "/v1/elsewhere")):
                    pass
            journal = (await http.get("/_fake/journal")).json()
    assert plain.status_code == 400 and "WebSocket upgrade" in plain.json()["error"]["message"]
    assert other.status_code == 404
    assert other.json()["error"]["message"] == "Invalid URL (POST /v1/realtime/sessions)"
    assert journal["http"] == [
        {"method": "GET", "path": "/v1/realtime", "status": 400},
        {"method": "POST", "path": "/v1/realtime/sessions", "status": 404},
        {"method": "GET", "path": "/v1/elsewhere", "status": 404},
    ]


async def test_a_body_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakes._serve

    monkeypatch.setattr(fakes._serve, "_MAX_BODY", 10)
    fake = FakeRealtimeServer()
    with anyio.fail_after(10):
        async with served(fake) as (_, http):
            answer = await http.post("/_fake/script", content=b"[" + b" " * 20 + b"]")
            assert (await http.get("/_fake/check")).status_code == 200  # still serving
    assert answer.status_code == 413


async def test_a_control_plane_bug_answers_500_and_serving_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeRealtimeServer()

    def broken() -> dict[str, Any]:
        raise RuntimeError("journal bug")

    monkeypatch.setattr(fake, "journal", broken)
    with anyio.fail_after(10):
        async with served(fake) as (_, http):
            answer = await http.get("/_fake/journal")
            assert (await http.get("/_fake/check")).status_code == 200
    assert answer.status_code == 500 and "failed" in answer.json()["error"]


def _request(method: str, path: str, authorization: str | None = None) -> HttpRequest:
    headers = (("Authorization", authorization),) if authorization is not None else ()
    return HttpRequest(method, path, {}, headers, b"")


async def test_beyond_loopback_the_control_plane_needs_the_key_as_a_bearer() -> None:
    fake = FakeRealtimeServer(api_key="sk-ci")
    locked = ControlPlane(fake, api_key="sk-ci")
    for authorization in (None, "Bearer sk-wrong", "Basic sk-ci", "sk-ci"):
        answer = await locked(_request("GET", "/_fake/check", authorization))
        assert answer.status == 401 and b"Bearer" in answer.body
    assert (await locked(_request("GET", "/_fake/check", "Bearer sk-ci"))).status == 200
    assert (await locked(_request("GET", "/_fake/check", "bearer  sk-ci"))).status == 200
    open_plane = ControlPlane(fake)
    assert (await open_plane(_request("GET", "/_fake/check"))).status == 200


def test_serving_beyond_loopback_without_a_key_is_refused() -> None:
    fake = FakeRealtimeServer()
    with pytest.raises(ValueError, match="beyond loopback, without an API key"):
        fake.serve("0.0.0.0")
    assert [is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost")] == [
        True
    ] * 5
    assert [is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "::", "example.com")] == [False] * 4


async def test_the_journal_is_bounded() -> None:
    from tests.fake_client import connect

    fake = FakeRealtimeServer(journal_events=3, journal_connections=1)
    with anyio.fail_after(5):
        for n in range(3):
            async with connect(fake) as client:
                for i in range(5):
                    await client.send({"type": "input_audio_buffer.clear", "event_id": f"{n}.{i}"})
                    await client.recv()
        async with connect(fake) as live:
            await live.send({"type": "input_audio_buffer.clear", "event_id": "live"})
            await live.recv()
            kept = list(fake.connections)
            received = fake.received
    assert len(kept) == 2  # the last closed connection, and the live one
    assert [e["event_id"] for e in kept[0].received] == ["2.2", "2.3", "2.4"]
    assert types(kept[0].sent) == ["input_audio_buffer.cleared"] * 3
    assert [e["event_id"] for e in received] == ["2.2", "2.3", "2.4", "live"]
    with pytest.raises(ValueError, match="journal_events must be 1 or more"):
        FakeRealtimeServer(journal_events=0)


async def test_credentials_are_redacted_in_the_journal() -> None:
    from tests.fake_client import connect

    fake = FakeRealtimeServer()
    headers = (
        ("Authorization", "Bearer sk-live-1234"),
        ("api-key", "azure-key"),
        ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-browser"),
        ("Cookie", "session=abc"),
    )
    with anyio.fail_after(5):
        async with connect(fake, headers=headers, query="model=m&api-key=q-key") as client:
            await client.send({"type": "input_audio_buffer.clear"})
            await client.recv()
    text = json.dumps(fake.journal())
    for secret in ("sk-live-1234", "azure-key", "sk-browser", "session=abc", "q-key"):
        assert secret not in text
    shown = fake.journal()["connections"][0]
    assert shown["headers"]["sec-websocket-protocol"] == (
        "realtime, openai-insecure-api-key.<redacted>"
    )
    assert shown["query"] == {"model": "m", "api-key": "<redacted>"}
    assert shown["headers"]["api-key"] == "<redacted>"
