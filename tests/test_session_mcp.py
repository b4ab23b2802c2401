"""Remote MCP tools on the client: ``realtime.Session`` approvals (by hand and by callable),
MCP items restored on reconnect, and the official SDK's approval round against the served
fake."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer, McpCall, Text
from realtime import ReconnectPolicy
from realtime.client_events import user_message
from realtime.events import Reconnected
from tests._served import (
    asyncio_only,
    mcp_approval,
    respond_to,
    sdk_session,
    text_only,
    until,
    user_text,
)
from tests._util import EventLog
from tests.conftest import Wire
from tests.test_session import add

MCP = {
    "type": "mcp",
    "server_label": "docs",
    "server_url": "https://mcp.example.com/sse",
    "require_approval": {"never": {"tool_names": ["search"]}},
}
TOOLS = [{"name": "search"}, {"name": "delete_page", "description": "Delete a page."}]


def _session(wire: Wire, **kwargs: Any) -> realtime.Session:
    return realtime.Session(
        wire.config(),
        transport=wire.transport,
        output_modalities=["text"],
        session={"tools": [MCP]},
        **kwargs,
    )


async def _ask_for_a_response(s: realtime.Session, text: str) -> None:
    # One response whatever send_text does by default (issue 12 makes it respond).
    await s.connection.send_message(user_message(text))
    await s.create_response()


async def _until_done(s: realtime.Session, count: int = 1) -> list[Any]:
    events: list[Any] = []
    with anyio.fail_after(10):
        async for event in s:
            events.append(event)
            if isinstance(event, realtime.ResponseDone):
                count -= 1
                if count == 0:
                    return events
    raise AssertionError(f"the session ended: {events}")


def _script(fake: FakeRealtimeServer) -> None:
    fake.mcp_server("docs", TOOLS)
    fake.reply(McpCall("docs", "delete_page", {"page": 3}, output="deleted"), Text("It is gone."))


async def test_approving_by_hand(wire: Wire) -> None:
    _script(wire.fake)
    async with _session(wire, tools=[add]) as s:
        await _ask_for_a_response(s, "Delete page 3.")
        first = await _until_done(s)
        (request,) = [e for e in first if isinstance(e, realtime.McpApprovalRequest)]
        await s.approve_mcp(request)
        second = await _until_done(s)
        await s.wait_idle()
    assert (request.server_label, request.name) == ("docs", "delete_page")
    assert json.loads(request.arguments) == {"page": 3}
    assert repr(request).startswith("McpApprovalRequest(")
    done = second[-1]
    assert [o["type"] for o in done.output] == ["mcp_call", "message"]
    assert done.output[0]["output"] == "deleted" and done.text == "It is gone."
    # MCP tools sit alongside the @tool functions.
    tools = wire.fake.received[0]["session"]["tools"]
    assert [t["type"] for t in tools] == ["mcp", "function"]
    answer = [e for e in wire.fake.received if e["type"] == "conversation.item.create"][-1]
    assert answer["item"]["approval_request_id"] == request.id
    assert answer["item"]["approve"] is True
    wire.fake.check(strict=False)


@pytest.mark.parametrize("kind", ["sync", "async", "raises"])
async def test_approving_with_a_callable(wire: Wire, kind: str) -> None:
    _script(wire.fake)
    seen: list[realtime.McpApprovalRequest] = []

    def sync_refuse(request: realtime.McpApprovalRequest) -> bool:
        seen.append(request)
        return False

    async def async_approve(request: realtime.McpApprovalRequest) -> bool:
        seen.append(request)
        await anyio.lowlevel.checkpoint()
        return True

    def raises(request: realtime.McpApprovalRequest) -> bool:
        seen.append(request)
        raise RuntimeError("no policy")

    decide = {"sync": sync_refuse, "async": async_approve, "raises": raises}[kind]
    async with _session(wire, approve_mcp=decide) as s:
        await _ask_for_a_response(s, "Delete page 3.")
        events = await _until_done(s, 2)
        await s.wait_idle()
    # The request is still yielded, for the app to see what was decided.
    assert [e for e in events if isinstance(e, realtime.McpApprovalRequest)] == seen
    assert len(seen) == 1
    second = [e for e in events if isinstance(e, realtime.ResponseDone)][-1]
    answer = [e for e in wire.fake.received if e["type"] == "conversation.item.create"][-1]
    if kind == "async":
        assert [o["type"] for o in second.output] == ["mcp_call", "message"]
        assert answer["item"]["approve"] is True
    else:
        # Refused: the call does not run; the answer that followed it in the script is given.
        assert [o["type"] for o in second.output] == ["message"]
        assert second.text == "It is gone."
        assert answer["item"]["approve"] is False
    if kind == "raises":
        assert "approve_mcp failed: RuntimeError: no policy" in answer["item"]["reason"]


async def test_a_non_bool_verdict_refuses(wire: Wire) -> None:
    _script(wire.fake)
    async with _session(wire, approve_mcp=lambda request: "yes") as s:
        await _ask_for_a_response(s, "Delete page 3.")
        await _until_done(s, 2)
    answer = [e for e in wire.fake.received if e["type"] == "conversation.item.create"][-1]
    assert answer["item"]["approve"] is False
    assert "must return a bool" in answer["item"]["reason"]


async def test_restore_history_recreates_mcp_items(
    wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    _script(wire.fake)
    log = EventLog()
    policy = ReconnectPolicy(initial_delay=0.0, jitter=False, restore="history")
    caplog.set_level(logging.INFO, logger="realtime.connection")
    with anyio.fail_after(10):
        async with wire.connect(session=log, reconnect=policy) as conn:
            await log.wait_for("session.created")
            await conn.send_message(
                {"type": "session.update", "session": {"type": "realtime", "tools": [MCP]}}
            )
            await log.wait_for("mcp_list_tools.completed")
            await conn.send_message(
                [
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "Delete page 3."}],
                        },
                    },
                    {"type": "response.create"},
                ]
            )
            done = await log.wait_for("response.done")
            request = done.raw["response"]["output"][0]
            await conn.send_message(
                [
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "mcp_approval_response",
                            "id": "mcpr_1",
                            "approval_request_id": request["id"],
                            "approve": True,
                        },
                    },
                    {"type": "response.create"},
                ]
            )
            await log.wait_for(lambda e: log.types.count("response.done") == 2)
            await wire.fake.close_connections(1001, "going away")
            await log.wait_for(Reconnected)
            await log.wait_for(lambda e: log.types.count("mcp_list_tools.completed") == 2)
            # Six items on each connection: listed tools, then five (replayed on the second).
            await log.wait_for(lambda e: log.types.count("conversation.item.done") == 12)
            second = wire.fake.connections[1]
    kinds = [e["item"]["type"] for e in second.received if e["type"] == "conversation.item.create"]
    assert kinds == [
        "message",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "message",
    ]
    created = {e["item"]["type"]: e["item"] for e in second.received if "item" in e}
    assert created["mcp_approval_response"]["approval_request_id"] == request["id"]
    assert created["mcp_approval_request"]["id"] == request["id"]
    assert created["mcp_call"]["output"] == "deleted"
    assert not [e for e in second.sent if e["type"] == "error"]
    assert "mcp_list_tools item" in caplog.text and "not re-created" in caplog.text


@asyncio_only
async def test_official_sdk_mcp_approval_round_against_the_served_fake() -> None:
    fake = FakeRealtimeServer()
    _script(fake)
    async with fake.serve() as url, sdk_session(url, timeout=20) as connection:
        await text_only(connection, MCP)
        seen = await until(connection, "conversation.item.done")
        first = await respond_to(connection, user_text("Delete page 3."))
        request = first[-1].response.output[0]
        second = await respond_to(connection, mcp_approval(request.id, "mcpr_sdk"))
    assert [e.type for e in seen][-3:] == [
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "conversation.item.done",
    ]
    listed = seen[-1]
    assert listed.item.type == "mcp_list_tools"
    assert [t.name for t in listed.item.tools] == ["search", "delete_page"]
    assert request.type == "mcp_approval_request" and request.name == "delete_page"
    output = second[-1].response.output
    assert [o.type for o in output] == ["mcp_call", "message"]
    assert output[0].output == "deleted" and output[0].approval_request_id == request.id
    assert "response.mcp_call.completed" in [e.type for e in second]


async def test_ask_runs_approval_rounds_like_tool_rounds(wire: Wire) -> None:
    if not hasattr(realtime.Session, "ask"):
        pytest.skip("Session.ask is not on this branch (issue 12 adds it)")
    _script(wire.fake)
    async with _session(wire, approve_mcp=lambda request: True) as s:
        with anyio.fail_after(10):
            done = await s.ask("Delete page 3.")  # type: ignore[attr-defined,unused-ignore]
    assert [o["type"] for o in done.output] == ["mcp_call", "message"]
    assert done.text == "It is gone."
