"""``realtime fake serve`` in a subprocess, driven over HTTP, against the official SDK: a minted
ephemeral key, a translation session, and an MCP approval round (asyncio only: the SDK)."""

from __future__ import annotations

import base64
import json

import anyio
import pytest

from fakes._audio import pcm16_tone
from tests._served import (
    asyncio_only,
    fake_serve,
    mcp_approval,
    respond_to,
    sdk_client,
    sdk_connect,
    until,
    user_text,
)
from tests.fidelity import validate_server_event

pytest.importorskip("openai")
pytestmark = asyncio_only

KEY = "sk-ci-0123456789"
MCP = {
    "type": "mcp",
    "server_label": "docs",
    "server_url": "https://mcp.example.com/sse",
    "require_approval": "always",
}


async def test_the_official_sdk_against_a_served_subprocess() -> None:
    with fake_serve("--api-key", KEY, control_key=KEY) as served:
        server = {"server_label": "docs", "tools": [{"name": "delete_page"}]}
        assert await served.control("POST", "mcp_servers", server) == (200, {"mcp_servers": 1})
        assert (await served.control("POST", "mcp_servers", {"server_label": 1}))[0] == 400
        assert (await served.control("POST", "mcp_servers", {**server, "x": 1}))[0] == 400
        assert (await served.control("POST", "mcp_servers", {**server, "fail": 3}))[0] == 400
        assert (await served.control("POST", "mcp_servers", {**server, "tools": "no"}))[0] == 400
        step = {
            "outputs": [
                {"mcp_call": {"server_label": "docs", "name": "delete_page", "output": "ok"}},
                {"text": "Deleted."},
            ]
        }
        assert await served.control("POST", "script", [step]) == (200, {"queued": 1})
        with anyio.fail_after(30):
            minted = await sdk_client(served.url, KEY).realtime.client_secrets.create(
                session={"type": "realtime", "output_modalities": ["text"], "tools": [MCP]}
            )
            async with sdk_connect(served.url, minted.value) as connection:
                first = await until(connection, "conversation.item.done")  # the tools listed
                asked = await respond_to(connection, user_text("Delete it."))
                request = asked[-1].response.output[0]
                answered = await respond_to(connection, mcp_approval(request.id, "mcpr_1"))
            device = sdk_client(served.url, minted.value)
            async with device.realtime.translations.connect(
                model="gpt-realtime-translate"
            ) as refused:
                wrong_kind = await refused.recv()
            speech = pcm16_tone(600, amplitude=8000) + bytes(48 * 400)
            async with sdk_client(served.url, KEY).realtime.translations.connect(
                model="gpt-realtime-translate"
            ) as translating:
                created = await translating.recv()
                for i in range(0, len(speech), 9600):
                    await translating.session.input_audio_buffer.append(
                        audio=base64.b64encode(speech[i : i + 9600]).decode()
                    )
                await translating.session.close()
                translated = await until(translating, "session.closed")
            status, journal = await served.control("GET", "journal")
            check = await served.control("GET", "check")
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
