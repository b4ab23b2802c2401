"""Remote MCP tools in the fake: tool listing, ``fakes.McpCall`` outputs, approvals, and the MCP
items clients may send. Every event is validated strictly against the official types by the
suite's autouse fixture."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from fakes import FakeRealtimeServer, McpCall, Text
from fakes._steps import StepError, parse_step
from tests.fake_client import Client, connect, refusal, types, user_text

MCP = {
    "type": "mcp",
    "server_label": "docs",
    "server_url": "https://mcp.example.com/sse",
    "require_approval": "never",
}
TOOLS = [
    {
        "name": "search",
        "description": "Search the docs.",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        "annotations": {"readOnlyHint": True},
    },
    {"name": "delete_page"},
]


def _session(*tools: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["text"], "tools": list(tools)},
    }


async def _listed(client: Client, tools: dict[str, Any]) -> list[dict[str, Any]]:
    await client.send(_session(tools))
    events = await client.until("session.updated")
    events += await client.until("conversation.item.done")
    return events


async def _turn(client: Client, text: str = "Find the install page.") -> list[dict[str, Any]]:
    await client.send(user_text(text))
    await client.until("conversation.item.done")
    await client.send({"type": "response.create"})
    return await client.until("response.done")


async def test_a_session_update_lists_the_tools_with_allowed_tools_applied() -> None:
    fake = FakeRealtimeServer()
    fake.mcp_server("docs", TOOLS)
    with anyio.fail_after(5):
        async with connect(fake) as client:
            events = await _listed(client, {**MCP, "allowed_tools": ["search"]})
            # The same configuration again: not listed twice.
            await client.send(_session({**MCP, "allowed_tools": ["search"]}))
            again = await client.until("session.updated")
            await client.send(
                {"type": "conversation.item.retrieve", "item_id": events[-1]["item"]["id"]}
            )
            retrieved = await client.until("conversation.item.retrieved")
    assert types(events) == [
        "session.updated",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "conversation.item.done",
    ]
    item = events[-1]["item"]
    assert item["type"] == "mcp_list_tools" and item["server_label"] == "docs"
    assert item["tools"] == [
        {
            "name": "search",
            "input_schema": TOOLS[0]["input_schema"],
            "description": "Search the docs.",
            "annotations": {"readOnlyHint": True},
        }
    ]
    assert types(again) == ["session.updated"]
    assert retrieved[-1]["item"] == item


@pytest.mark.parametrize(
    ("allowed", "names"),
    [
        ({"read_only": True}, ["search"]),
        ({"tool_names": ["delete_page"]}, ["delete_page"]),
        (None, ["search", "delete_page"]),
    ],
)
async def test_allowed_tools_filters(allowed: Any, names: list[str]) -> None:
    fake = FakeRealtimeServer()
    fake.mcp_server("docs", TOOLS)
    tool = dict(MCP) if allowed is None else {**MCP, "allowed_tools": allowed}
    with anyio.fail_after(5):
        async with connect(fake) as client:
            events = await _listed(client, tool)
    assert [t["name"] for t in events[-1]["item"]["tools"]] == names
    if "delete_page" in names:  # listed without a schema: an empty object schema
        schema = events[-1]["item"]["tools"][-1]["input_schema"]
        assert schema == {"type": "object", "properties": {}}


async def test_an_unknown_or_failing_server_fails_its_listing() -> None:
    fake = FakeRealtimeServer()
    fake.mcp_server("broken", TOOLS, fail="connection refused")
    with anyio.fail_after(5):
        async with connect(fake) as client:
            unknown = await _listed(client, MCP)
            failing = await _listed(client, {**MCP, "server_label": "broken"})
    for events in (unknown, failing):
        assert "mcp_list_tools.failed" in types(events)
        assert "mcp_list_tools.completed" not in types(events)
        assert events[-1]["item"]["tools"] == []


async def test_an_mcp_call_and_the_answer_in_one_response() -> None:
    fake = FakeRealtimeServer()
    fake.mcp_server("docs", TOOLS)
    fake.reply(
        McpCall("docs", "search", {"q": "install"}, output="pip install it"),
        Text("Run pip install."),
    )
    fake.reply(McpCall("docs", "delete_page", "{}", error="permission denied"))
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await _listed(client, MCP)
            first = await _turn(client)
            second = await _turn(client, "Delete it.")
    call_events = [e for e in first if e["type"].startswith("response.mcp_call")]
    assert _collapse(types(call_events)) == [
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
    ]
    done = first[-1]["response"]
    assert [o["type"] for o in done["output"]] == ["mcp_call", "message"]
    call = done["output"][0]
    assert json.loads(call["arguments"]) == {"q": "install"}
    assert call["output"] == "pip install it" and call["error"] is None
    assert done["output"][1]["content"][0]["text"] == "Run pip install."
    # The call's item is done before the message starts.
    names = types(first)
    assert names.index("response.mcp_call.completed") < names.index("response.content_part.added")
    failed = second[-1]["response"]["output"][0]
    assert failed["error"] == {"type": "tool_execution_error", "message": "permission denied"}
    assert "response.mcp_call.failed" in types(second)


def _collapse(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        if not (out and out[-1] == name):
            out.append(name)
    return out


@pytest.mark.parametrize("approve", [True, False])
async def test_an_approval_round(approve: bool) -> None:
    fake = FakeRealtimeServer()
    fake.mcp_server("docs", TOOLS)
    fake.reply(
        McpCall("docs", "delete_page", {"page": 3}, output="deleted"), Text("Done, it is gone.")
    )
    fake.reply(Text("I did not delete it."))
    tool = {**MCP, "require_approval": {"never": {"tool_names": ["search"]}}}
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await _listed(client, tool)
            first = await _turn(client, "Delete page 3.")
            request = first[-1]["response"]["output"][0]
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "mcp_approval_response",
                        "id": "mcpr_1",
                        "approval_request_id": request["id"],
                        "approve": approve,
                        **({} if approve else {"reason": "not now"}),
                    },
                }
            )
            added = await client.until("conversation.item.done")
            await client.send({"type": "response.create"})
            second = await client.until("response.done")
    assert [o["type"] for o in first[-1]["response"]["output"]] == ["mcp_approval_request"]
    assert request["name"] == "delete_page" and json.loads(request["arguments"]) == {"page": 3}
    assert "response.mcp_call_arguments.delta" not in types(first)
    assert added[-1]["item"]["type"] == "mcp_approval_response"
    output = second[-1]["response"]["output"]
    if approve:
        assert [o["type"] for o in output] == ["mcp_call", "message"]
        assert output[0]["approval_request_id"] == request["id"]
        assert output[0]["output"] == "deleted"
        assert output[1]["content"][0]["text"] == "Done, it is gone."
        fake.check(strict=False)
    else:
        # Refused: the call does not run; the text after it is the answer.
        assert [o["type"] for o in output] == ["message"]
        assert output[0]["content"][0]["text"] == "Done, it is gone."


async def test_approval_is_required_by_default() -> None:
    fake = FakeRealtimeServer()
    fake.mcp_server("docs", TOOLS)
    fake.reply(McpCall("docs", "search", {"q": "x"}))
    tool = {k: v for k, v in MCP.items() if k != "require_approval"}
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await _listed(client, tool)
            first = await _turn(client)
            request = first[-1]["response"]["output"][0]
            # Refused with nothing held back: the model answers as usual.
            await client.send(
                {
                    "type": "response.create",
                    "response": {
                        "input": [
                            {
                                "type": "mcp_approval_response",
                                "id": "mcpr_2",
                                "approval_request_id": request["id"],
                                "approve": False,
                            }
                        ]
                    },
                }
            )
            second = await client.until("response.done")
    assert request["type"] == "mcp_approval_request"
    assert second[-1]["response"]["output"][0]["type"] == "message"


async def test_a_script_calling_an_unavailable_mcp_tool_fails_the_test() -> None:
    for server, call in [
        (None, McpCall("docs", "search", {})),  # no fake.mcp_server
        ("docs", McpCall("docs", "nope", {})),  # not listed
        ("docs", McpCall("other", "search", {})),  # no mcp tool with that label
    ]:
        fake = FakeRealtimeServer()
        if server:
            fake.mcp_server(server, TOOLS)
        fake.reply(call)
        with anyio.fail_after(5):
            async with connect(fake) as client:
                await client.send(_session(MCP))
                await client.until("session.updated")
                await client.send(user_text("Go."))
                await client.send({"type": "response.create"})
                await client.closed()
        assert client.close is not None and client.close.code == 1011
        with pytest.raises(AssertionError):
            fake.check()


MCP_ITEMS = [
    {
        "type": "mcp_call",
        "id": "mcp_1",
        "server_label": "docs",
        "name": "search",
        "arguments": "{}",
        "output": "found",
    },
    {
        "type": "mcp_call",
        "id": "mcp_2",
        "server_label": "docs",
        "name": "search",
        "arguments": "{}",
        "error": {"type": "protocol_error", "code": -32600, "message": "bad"},
    },
    {
        "type": "mcp_call",
        "id": "mcp_3",
        "server_label": "docs",
        "name": "search",
        "arguments": "{}",
        "error": {"type": "http_error", "code": 502, "message": "bad gateway"},
    },
    {
        "type": "mcp_list_tools",
        "id": "mcpl_1",
        "server_label": "docs",
        "tools": [{"name": "search", "input_schema": {}, "description": "S", "annotations": {}}],
    },
    {
        "type": "mcp_approval_request",
        "id": "mcpa_1",
        "server_label": "docs",
        "name": "search",
        "arguments": "{}",
    },
    {
        "type": "mcp_approval_response",
        "id": "mcpr_1",
        "approval_request_id": "mcpa_1",
        "approve": True,
        "reason": None,
    },
]


async def test_every_mcp_item_type_is_accepted_retrievable_and_deletable() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            for item in MCP_ITEMS:
                await client.send({"type": "conversation.item.create", "item": item})
                added = await client.until("conversation.item.done")
                assert added[-1]["item"]["id"] == item["id"]
                await client.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
                retrieved = (await client.until("conversation.item.retrieved"))[-1]["item"]
                assert {k: v for k, v in retrieved.items() if v is not None} == {
                    k: v for k, v in item.items() if v is not None
                }
            await client.send({"type": "conversation.item.delete", "item_id": "mcp_2"})
            deleted = await client.until("conversation.item.deleted")
            # In response.input too, with an id given for an item without one.
            no_id = {k: v for k, v in MCP_ITEMS[0].items() if k != "id"}
            await client.send({"type": "response.create", "response": {"input": [no_id]}})
            done = await client.until("response.done")
    assert deleted[-1]["item_id"] == "mcp_2"
    assert done[-1]["response"]["status"] == "completed"


@pytest.mark.parametrize(
    ("item", "code", "param"),
    [
        (
            {"type": "mcp_call", "server_label": "d", "name": "n"},
            "missing_required_parameter",
            "item.arguments",
        ),
        (
            {
                "type": "mcp_call",
                "server_label": "d",
                "name": "n",
                "arguments": "{}",
                "error": {"type": "oops"},
            },
            "invalid_value",
            "item.error.type",
        ),
        (
            {
                "type": "mcp_call",
                "server_label": "d",
                "name": "n",
                "arguments": "{}",
                "error": {"type": "http_error", "message": "m"},
            },
            "missing_required_parameter",
            "item.error.code",
        ),
        (
            {
                "type": "mcp_call",
                "server_label": "d",
                "name": "n",
                "arguments": "{}",
                "error": {"type": "tool_execution_error"},
            },
            "missing_required_parameter",
            "item.error.message",
        ),
        (
            {"type": "mcp_call", "server_label": "d", "name": "n", "arguments": "{}", "error": {}},
            "missing_required_parameter",
            "item.error.type",
        ),
        (
            {"type": "mcp_call", "name": "n", "arguments": "{}"},
            "missing_required_parameter",
            "item.server_label",
        ),
        (
            {
                "type": "mcp_call",
                "server_label": "d",
                "name": "n",
                "arguments": "{}",
                "status": "x",
            },
            "unknown_parameter",
            "item.status",
        ),
        (
            {"type": "mcp_approval_response", "approval_request_id": "a"},
            "missing_required_parameter",
            "item.approve",
        ),
        (
            {"type": "mcp_approval_response", "approval_request_id": "a", "approve": "yes"},
            "invalid_type",
            "item.approve",
        ),
        (
            {"type": "mcp_approval_response", "approve": True},
            "missing_required_parameter",
            "item.approval_request_id",
        ),
        (
            {"type": "mcp_list_tools", "server_label": "d"},
            "missing_required_parameter",
            "item.tools",
        ),
        (
            {"type": "mcp_list_tools", "server_label": "d", "tools": {}},
            "invalid_type",
            "item.tools",
        ),
        (
            {"type": "mcp_list_tools", "server_label": "d", "tools": [{"name": "x"}]},
            "missing_required_parameter",
            "item.tools[0].input_schema",
        ),
        (
            {
                "type": "mcp_list_tools",
                "server_label": "d",
                "tools": [{"name": "x", "input_schema": {}, "x": 1}],
            },
            "unknown_parameter",
            "item.tools[0].x",
        ),
    ],
)
async def test_invalid_mcp_items_are_refused(item: dict[str, Any], code: str, param: str) -> None:
    error = await refusal(FakeRealtimeServer(), {"type": "conversation.item.create", "item": item})
    assert (error["code"], error["param"]) == (code, param)


def test_mcp_call_steps() -> None:
    reply = parse_step(
        {
            "outputs": [
                {"mcp_call": {"server_label": "docs", "name": "search", "output": "x"}},
                {"text": "ok"},
            ]
        }
    )
    assert not isinstance(reply, type(None))
    assert reply.outputs[0] == McpCall("docs", "search", {}, output="x")  # type: ignore[union-attr]
    error = parse_step({"mcp_call": {"server_label": "d", "name": "n", "error": {"type": "x"}}})
    assert error.outputs[0].error == {"type": "x"}  # type: ignore[union-attr]
    for bad, message in [
        ({"mcp_call": {"name": "n"}}, "missing 'server_label'"),
        (
            {"mcp_call": {"server_label": "d", "name": "n", "output": 1}},
            "output: expected a string",
        ),
        ({"mcp_call": {"server_label": "d", "name": "n", "error": 1}}, "error: expected"),
        ({"mcp_call": {"server_label": "d", "name": "n", "output": "a", "error": "b"}}, "not both"),
        ({"mcp_call": {"server_label": "d", "name": "n", "x": 1}}, "unknown key 'x'"),
    ]:
        with pytest.raises(StepError, match=message):
            parse_step(bad)
    with pytest.raises(TypeError, match="not both"):
        McpCall("d", "n", {}, output="a", error="b")
    assert "McpCall('d', 'n'" in McpCall("d", "n", {}).describe()


def test_mcp_server_checks_its_tools() -> None:
    fake = FakeRealtimeServer()
    with pytest.raises(TypeError):
        fake.mcp_server("docs", "search")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fake.mcp_server("docs", [{"description": "no name"}])
    with pytest.raises(ValueError, match="unknown key"):
        fake.mcp_server("docs", [{"name": "a", "parameters": {}}])
