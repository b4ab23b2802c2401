"""``realtime fake serve`` in a subprocess, driven over HTTP, against the official SDK: a minted
ephemeral key, a translation session, and an MCP approval round (asyncio only: the SDK)."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import pytest

from fakes._audio import pcm16_tone
from tests.fidelity import validate_server_event
from tests.test_fake_served import _fake_serve, _http

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.parametrize("anyio_backend", ["asyncio"])

KEY = "sk-ci-0123456789"
MCP = {
    "type": "mcp",
    "server_label": "docs",
    "server_url": "https://mcp.example.com/sse",
    "require_approval": "always",
}


def _client(url: str, key: str = KEY) -> Any:
    base = url.removesuffix("/realtime")
    return openai.AsyncOpenAI(
        api_key=key, base_url="http" + base.removeprefix("ws"), websocket_base_url=base
    )


async def _upto(connection: Any, event_type: str) -> list[Any]:
    seen = []
    async for event in connection:
        seen.append(event)
        if event.type == event_type:
            return seen
    raise AssertionError(f"the connection ended before {event_type}")


async def test_the_official_sdk_against_a_served_subprocess() -> None:
    with _fake_serve("--api-key", KEY) as (url, base):

        async def control(method: str, path: str, body: object = None) -> Any:
            return await anyio.to_thread.run_sync(
                lambda: _http(method, f"{base}/_fake/{path}", body, KEY)
            )

        server = {"server_label": "docs", "tools": [{"name": "delete_page"}]}
        assert await control("POST", "mcp_servers", server) == (200, {"mcp_servers": 1})
        assert (await control("POST", "mcp_servers", {"server_label": 1}))[0] == 400
        assert (await control("POST", "mcp_servers", {**server, "x": 1}))[0] == 400
        assert (await control("POST", "mcp_servers", {**server, "fail": 3}))[0] == 400
        assert (await control("POST", "mcp_servers", {**server, "tools": "no"}))[0] == 400
        step = {
            "outputs": [
                {"mcp_call": {"server_label": "docs", "name": "delete_page", "output": "ok"}},
                {"text": "Deleted."},
            ]
        }
        assert await control("POST", "script", [step]) == (200, {"queued": 1})
        with anyio.fail_after(30):
            minted = await _client(url).realtime.client_secrets.create(
                session={"type": "realtime", "output_modalities": ["text"], "tools": [MCP]}
            )
            device = _client(url, minted.value)
            async with device.realtime.connect(model="gpt-realtime") as connection:
                first = await _upto(connection, "conversation.item.done")  # the tools listed
                await connection.conversation.item.create(
                    item={
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "Delete it."}],
                    }
                )
                await connection.response.create()
                asked = await _upto(connection, "response.done")
                request = asked[-1].response.output[0]
                await connection.conversation.item.create(
                    item={
                        "type": "mcp_approval_response",
                        "id": "mcpr_1",
                        "approval_request_id": request.id,
                        "approve": True,
                    }
                )
                await connection.response.create()
                answered = await _upto(connection, "response.done")
            async with device.realtime.translations.connect(
                model="gpt-realtime-translate"
            ) as refused:
                wrong_kind = await refused.recv()
            speech = pcm16_tone(600, amplitude=8000) + bytes(48 * 400)
            async with _client(url).realtime.translations.connect(
                model="gpt-realtime-translate"
            ) as translating:
                created = await translating.recv()
                for i in range(0, len(speech), 9600):
                    await translating.session.input_audio_buffer.append(
                        audio=base64.b64encode(speech[i : i + 9600]).decode()
                    )
                await translating.session.close()
                translated = await _upto(translating, "session.closed")
            status, journal = await control("GET", "journal")
            check = await control("GET", "check")
    assert first[0].type == "session.created" and first[0].session.tools[0].type == "mcp"
    assert request.type == "mcp_approval_request"
    assert [o.type for o in answered[-1].response.output] == ["mcp_call", "message"]
    assert wrong_kind.type == "error" and wrong_kind.error.code == "invalid_api_key"
    assert created.type == "session.created" and created.session.type == "translation"
    text = "".join(e.delta for e in translated if e.type == "session.output_transcript.delta")
    assert text == "(en) Hello."
    assert status == 200 and check == (200, {"ok": True})
    assert journal["http"] == [
        {"method": "POST", "path": "/v1/realtime/client_secrets", "status": 200}
    ]
    paths = [c["path"] for c in journal["connections"]]
    assert paths == ["/v1/realtime", "/v1/realtime/translations", "/v1/realtime/translations"]
    for connection_journal in journal["connections"]:
        for event in connection_journal["sent"]:
            validate_server_event(event)
    assert minted.value not in json.dumps(journal)
