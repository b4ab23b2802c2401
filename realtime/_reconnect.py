"""Reconnection: the policy, the retry rules, and what is restored on a new server session.

Plain code with no I/O; the driver in ``_connection.py`` asks it what to do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["NO_RETRY_ERROR_CODES", "RETRY_CLOSE_CODES", "ReconnectPolicy", "Restorer"]

# The codes the official SDK retries on; 1001 also ends a session that hit its maximum
# duration, which a new session cures.
RETRY_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})
# Error codes after which a new connection would fail the same way.
NO_RETRY_ERROR_CODES = frozenset(
    {"invalid_api_key", "insufficient_quota", "model_not_found", "invalid_request_error"}
)


@dataclass(frozen=True)
class ReconnectPolicy:
    """How to reconnect after a recoverable close.

    Args:
        max_attempts: Consecutive failed attempts before giving up. The budget resets once a
            new connection delivered a real server event (not just the handshake).
        initial_delay: Seconds before the first attempt; doubles after each failed attempt.
        max_delay: Upper bound of the delay.
        jitter: Randomise each delay between half and all of it, so that many clients cut off
            together do not come back together.
        restore: ``"session"`` re-sends the last effective ``session.update``; ``"history"``
            also replays the conversation items seen (messages, function calls and outputs),
            so the model keeps its context on the new server session.
        max_queued_bytes: Bytes of messages held while reconnecting; a send past it raises
            :class:`~realtime.SendQueueFullError`.
    """

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: bool = True
    restore: Literal["session", "history"] | None = None
    max_queued_bytes: int = 1024 * 1024

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (from 1)."""
        delay: float = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        if self.jitter:
            delay *= random.uniform(0.5, 1.0)  # spreading load, not security
        return delay

    @staticmethod
    def retries_close(code: int) -> bool:
        """Whether a close with ``code`` is worth a new connection."""
        return code in RETRY_CLOSE_CODES


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    # session.update merges server-side, nested objects included; so must our copy.
    for key, value in update.items():
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value)
        else:
            into[key] = value


class Restorer:
    """Keeps what must be re-sent to a new server session, per the policy's ``restore``."""

    def __init__(self, restore: Literal["session", "history"] | None) -> None:
        self.restore = restore
        self._session: dict[str, Any] | None = None
        self._items: dict[str, dict[str, Any]] = {}

    def sent(self, message: Mapping[str, Any]) -> None:
        """Note a client event that was sent."""
        if message.get("type") == "session.update" and isinstance(message.get("session"), Mapping):
            if self._session is None:
                self._session = {}
            _merge(self._session, message["session"])

    def received(self, event: Mapping[str, Any]) -> None:
        """Note a server event (as its wire dict)."""
        if self.restore != "history":
            return
        kind = event.get("type")
        if kind == "conversation.item.done":
            item = event.get("item")
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                replay = _replayable(item)
                if replay is not None:
                    self._items[item["id"]] = replay
        elif kind == "conversation.item.deleted" and isinstance(event.get("item_id"), str):
            self._items.pop(event["item_id"], None)

    def messages(self) -> list[dict[str, Any]]:
        """The client events that restore the previous session's state, in order."""
        out: list[dict[str, Any]] = []
        if self.restore is None:
            return out
        if self._session is not None:
            out.append({"type": "session.update", "session": self._session})
        if self.restore == "history":
            out.extend(
                {"type": "conversation.item.create", "item": i} for i in self._items.values()
            )
        return out


def _replayable(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A client-side ``item`` recreating a server item, or ``None`` if it cannot be."""
    kind = item.get("type")
    if kind == "function_call":
        return {
            "type": "function_call",
            "call_id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": item.get("arguments", ""),
        }
    if kind == "function_call_output":
        return {
            "type": "function_call_output",
            "call_id": item.get("call_id"),
            "output": item.get("output", ""),
        }
    if kind != "message":
        return None
    role = item.get("role")
    text_type = "output_text" if role == "assistant" else "input_text"
    content = []
    for part in item.get("content") or ():
        # Audio cannot be re-sent (the server never returns it); its transcript carries the
        # meaning into the new session.
        text = part.get("text") if part.get("text") is not None else part.get("transcript")
        if isinstance(text, str) and text:
            content.append({"type": text_type, "text": text})
    if not content:
        return None
    return {"type": "message", "role": role, "content": content}
