"""Remote MCP tools: what a fake MCP server lists, the ``mcp`` tool options the real service
applies (``allowed_tools``, ``require_approval``), and the MCP conversation items clients may send.

Plain data and checks, no I/O: the behaviour and response layers send the events. No recording
of a real MCP session exists here; the event order is inferred from the API reference (see
``docs/client-secrets-mcp-translation.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._session import (
    expect_bool,
    expect_choice,
    expect_int,
    expect_object,
    expect_str,
    given_fields,
    missing_parameter,
    required_list,
)

__all__ = [
    "MCP_ITEM_TYPES",
    "McpServer",
    "allowed_tools",
    "check_server_tools",
    "mcp_tools",
    "normalize_mcp_item",
    "requires_approval",
]

MCP_ITEM_TYPES = ("mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response")
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class McpServer:
    """A remote MCP server as the fake plays it (``fake.mcp_server(...)``).

    Attributes:
        server_label: The label an ``mcp`` tool names it by.
        tools: What it lists: ``{"name", "description"?, "input_schema"?, "annotations"?}``.
        fail: Listing its tools fails (``mcp_list_tools.failed``); a string says why (kept for
            the test's reading: the failed event carries no message).
    """

    server_label: str
    tools: tuple[dict[str, Any], ...]
    fail: str | bool | None = None

    def listed(self) -> list[dict[str, Any]]:
        """Its tools as the ``mcp_list_tools`` item shows them."""
        out = []
        for tool in self.tools:
            entry: dict[str, Any] = {
                "name": tool["name"],
                "input_schema": tool.get("input_schema", _EMPTY_SCHEMA),
            }
            for key in ("description", "annotations"):
                if key in tool:
                    entry[key] = tool[key]
            out.append(entry)
        return out


def check_server_tools(tools: object) -> tuple[dict[str, Any], ...]:
    """Validate ``fake.mcp_server``'s ``tools``.

    Raises:
        TypeError: ``tools`` is not a list of objects with a string ``name``.
        ValueError: A key other than ``name``, ``description``, ``input_schema``,
            ``annotations``.
    """
    if not isinstance(tools, (list, tuple)):
        raise TypeError("tools must be a list of {'name', 'description'?, 'input_schema'?}")
    checked = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise TypeError(f"tools[{i}] must be an object with a string 'name', not {tool!r}")
        unknown = set(tool) - {"name", "description", "input_schema", "annotations"}
        if unknown:
            raise ValueError(f"tools[{i}]: unknown key {sorted(unknown)[0]!r}")
        checked.append(dict(tool))
    return tuple(checked)


def mcp_tools(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``mcp`` tools among a session's or response's ``tools``, by server label."""
    return {t["server_label"]: t for t in tools if t.get("type") == "mcp"}


def _read_only(tool: dict[str, Any]) -> bool:
    annotations = tool.get("annotations")
    return isinstance(annotations, dict) and annotations.get("readOnlyHint") is True


def _in_filter(flt: object, tool: dict[str, Any]) -> bool:
    """Whether ``tool`` matches an MCP tool filter (``tool_names``, ``read_only``)."""
    if not isinstance(flt, dict):
        return False
    names = flt.get("tool_names")
    if names is not None and tool["name"] not in names:
        return False
    if flt.get("read_only") is True and not _read_only(tool):
        return False
    return names is not None or flt.get("read_only") is True


def allowed_tools(config: dict[str, Any], listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``listed`` with the tool's ``allowed_tools`` applied (a list of names, or a filter)."""
    allowed = config.get("allowed_tools")
    if allowed is None:
        return listed
    if isinstance(allowed, list):
        return [t for t in listed if t["name"] in allowed]
    return [t for t in listed if _in_filter(allowed, t)]


def requires_approval(config: dict[str, Any], tool: dict[str, Any]) -> bool:
    """Whether calling ``tool`` needs the app's approval under ``require_approval``.

    Absent (or null), approval is required, as the API reference describes the default for
    remote MCP servers (inferred for the Realtime API); ``"never"``/``"always"`` apply to every
    tool; a filter object requires it for the tools ``always`` matches, not for those ``never``
    matches, and (inferred) requires it for any other tool.
    """
    rule = config.get("require_approval")
    if rule is None or rule == "always":
        return True
    if rule == "never":
        return False
    return not (isinstance(rule, dict) and _in_filter(rule.get("never"), tool))


# -- MCP items sent by clients (conversation.item.create, response.input) ----------------------

_ERROR_TYPES = ["protocol_error", "tool_execution_error", "http_error"]


def _mcp_error(value: object, param: str, schema: str) -> dict[str, Any] | None:
    if value is None:
        return None
    given = expect_object(value, param)
    if given.get("type") is None:
        raise missing_parameter(f"{param}.type")
    kind = expect_choice(given["type"], f"{param}.type", _ERROR_TYPES)
    given = given_fields(given, f"{schema}.error:{kind}", param)
    out: dict[str, Any] = {"type": kind}
    if kind != "tool_execution_error":
        if "code" not in given:
            raise missing_parameter(f"{param}.code")
        out["code"] = expect_int(given["code"], f"{param}.code")
    if "message" not in given:
        raise missing_parameter(f"{param}.message")
    out["message"] = expect_str(given["message"], f"{param}.message")
    return out


def _required_str(item: dict[str, Any], key: str, param: str) -> str:
    if key not in item:
        raise missing_parameter(f"{param}.{key}")
    return str(expect_str(item[key], f"{param}.{key}"))


def normalize_mcp_item(
    item: dict[str, Any], kind: str, param: str, schema: str, new_id: Callable[[], str]
) -> dict[str, Any]:
    """An MCP item a client sent (its fields already checked against ``schema``), as the
    service stores it. A missing ``id`` is given one (the SDK's types require it; the fake is
    lenient there, as for messages).

    Raises:
        ClientError: A required field is missing, or a field has the wrong type.
    """
    item_id = item.get("id")
    out: dict[str, Any] = {
        "id": str(expect_str(item_id, f"{param}.id")) if item_id is not None else new_id(),
        "type": kind,
    }
    if kind == "mcp_approval_response":
        out["approval_request_id"] = _required_str(item, "approval_request_id", param)
        if "approve" not in item:
            raise missing_parameter(f"{param}.approve")
        out["approve"] = expect_bool(item["approve"], f"{param}.approve")
        out["reason"] = expect_str(item.get("reason"), f"{param}.reason", nullable=True)
        return out
    out["server_label"] = _required_str(item, "server_label", param)
    if kind == "mcp_list_tools":
        tools = required_list(item, "tools", param)
        listed = []
        for i, tool in enumerate(tools):
            where = f"{param}.tools[{i}]"
            given = given_fields(expect_object(tool, where), f"{schema}.tools", where)
            entry: dict[str, Any] = {"name": _required_str(given, "name", where)}
            if "input_schema" not in given:
                raise missing_parameter(f"{where}.input_schema")
            entry["input_schema"] = given["input_schema"]
            if given.get("description") is not None:
                entry["description"] = expect_str(given["description"], f"{where}.description")
            if given.get("annotations") is not None:
                entry["annotations"] = given["annotations"]
            listed.append(entry)
        out["tools"] = listed
        return out
    out["name"] = _required_str(item, "name", param)
    out["arguments"] = _required_str(item, "arguments", param)
    if kind == "mcp_call":
        out["approval_request_id"] = expect_str(
            item.get("approval_request_id"), f"{param}.approval_request_id", nullable=True
        )
        out["output"] = expect_str(item.get("output"), f"{param}.output", nullable=True)
        out["error"] = _mcp_error(item.get("error"), f"{param}.error", schema)
    return out
