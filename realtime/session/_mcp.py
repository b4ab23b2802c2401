"""Remote MCP tools, client side: the approval request a :class:`~realtime.Session` surfaces,
and the ``conversation.item.create`` that answers it.

MCP tools are declared in the session configuration (``{"type": "mcp", "server_label",
"server_url", "require_approval", ...}``); the service lists and calls them itself. The app only
decides the calls whose tool requires approval.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ApproveMcp", "McpApprovalRequest", "approval_response", "decide"]


@dataclass(frozen=True, slots=True)
class McpApprovalRequest:
    """The model wants to call tool ``name`` of the remote MCP server ``server_label``, and
    the tool requires the app's approval (``Session.approve_mcp`` answers it).

    Attributes:
        id: The ``mcp_approval_request`` item's id (what the answer names).
        server_label: The MCP server's label.
        name: The tool's name.
        arguments: The call's arguments, as JSON text.
    """

    id: str
    server_label: str
    name: str
    arguments: str

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> McpApprovalRequest:
        """The request of an ``mcp_approval_request`` item."""
        return cls(
            id=str(item.get("id", "")),
            server_label=str(item.get("server_label", "")),
            name=str(item.get("name", "")),
            arguments=str(item.get("arguments", "")),
        )


ApproveMcp = Callable[[McpApprovalRequest], "bool | Awaitable[bool]"]
"""Decides an approval request: sync or async, returns whether the call may run."""


def approval_response(
    request: McpApprovalRequest | str, approve: bool, reason: str | None = None
) -> dict[str, Any]:
    """The ``conversation.item.create`` answering ``request`` (or the request's id).

    The item gets an id of its own: the SDK's type requires one.
    """
    request_id = request.id if isinstance(request, McpApprovalRequest) else request
    item: dict[str, Any] = {
        "type": "mcp_approval_response",
        "id": "mcpr_" + secrets.token_hex(8),
        "approval_request_id": request_id,
        "approve": bool(approve),
    }
    if reason is not None:
        item["reason"] = reason
    return {"type": "conversation.item.create", "item": item}


async def decide(approve: ApproveMcp, request: McpApprovalRequest) -> bool:
    """Call ``approve`` (sync or async) on ``request``.

    Raises:
        TypeError: It returned something other than a bool.
    """
    verdict = approve(request)
    if inspect.isawaitable(verdict):
        verdict = await verdict
    if not isinstance(verdict, bool):
        raise TypeError(f"approve_mcp must return a bool, not {type(verdict).__name__}")
    return verdict
