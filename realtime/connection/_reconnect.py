"""Reconnection: the policy, the retry rules, the send queue, and what is restored.

Plain code with no I/O; the connection's supervisor (``_connection.py``) tells it what happened
and asks it what to do: :class:`Reconnector` decides whether a closed link is retried, holds
the messages sent in between, and keeps what a new server session must be told
(:class:`Restorer`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from .._errors import ConnError, SendQueueFullError
from ..events import Closed, Event, Reconnecting, ServerEventBase

logger = logging.getLogger("realtime.connection")

__all__ = [
    "NO_RETRY_ERROR_CODES",
    "RETRY_CLOSE_CODES",
    "Pending",
    "ReconnectPolicy",
    "Reconnector",
    "Restorer",
]

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


# The MCP items a client may create (the SDK's ConversationItem), with the fields it may send.
# They keep their ids: an approval response names its request by id.
_MCP_FIELDS = {
    "mcp_call": (
        "id",
        "server_label",
        "name",
        "arguments",
        "approval_request_id",
        "output",
        "error",
    ),
    "mcp_approval_request": ("id", "server_label", "name", "arguments"),
    "mcp_approval_response": ("id", "approval_request_id", "approve", "reason"),
}


def _replayable(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A client-side ``item`` recreating a server item, or ``None`` if it cannot be."""
    kind = item.get("type")
    if kind in _MCP_FIELDS:
        return {k: item[k] for k in _MCP_FIELDS[kind] if item.get(k) is not None} | {"type": kind}
    if kind == "mcp_list_tools":
        # Not re-created: the restored session.update brings the mcp tool back, and the new
        # session lists its tools itself (a copy would list them twice).
        logger.info("restore: mcp_list_tools item %s not re-created (listed anew)", item.get("id"))
        return None
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


class Pending:
    """Messages sent while reconnecting, and the sender waiting for their fate.

    ``written`` counts the texts that already left a socket: if the link drops mid-flush
    they count as sent (fate unknown) and are never written again; only the rest waits
    for the next link or is handed back.
    """

    __slots__ = ("done", "error", "messages", "size", "texts", "written")

    def __init__(self, texts: list[str], messages: tuple[dict[str, Any], ...]) -> None:
        self.texts = texts
        self.messages = messages
        self.size = sum(len(t) for t in texts)
        self.written = 0
        self.done = anyio.Event()
        self.error: ConnError | None = None


class Reconnector:
    """What survives from one link to the next: the retry budget, the queue, the restorer.

    Inert without a policy: every question it answers is then "no".
    """

    def __init__(self, policy: ReconnectPolicy | None) -> None:
        self.policy = policy
        self.restorer = Restorer(policy.restore) if policy is not None else None
        self.attempt = 0
        self.retrying = False
        """Between links: the last one closed and a new one is planned or being opened."""
        self.last_code: int | None = None
        self._error_code: str | None = None
        self._queue: list[Pending] = []
        self._queued_bytes = 0

    # -- what happened ---------------------------------------------------------------------

    def link_opened(self) -> None:
        """A new link completed its handshake: its errors are its own."""
        self._error_code = None

    def watch(self, events: Sequence[Event]) -> None:
        """Track errors, restorable state and the retry budget from delivered events."""
        for event in events:
            if not isinstance(event, ServerEventBase):
                continue
            raw = event.raw
            # A real server event on this link: the connection works, reset the budget.
            self.attempt = 0
            if raw.get("type") == "error":
                error = raw.get("error")
                code = error.get("code") if isinstance(error, dict) else None
                self._error_code = code if isinstance(code, str) else None
            if self.restorer is not None:
                self.restorer.received(raw)

    def sent(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Messages that were written, for the restorer."""
        if self.restorer is not None:
            for message in messages:
                self.restorer.sent(message)

    # -- what to do ------------------------------------------------------------------------

    def may_retry(self, close_requested: bool) -> bool:
        """Whether a send now should wait for a next link rather than be refused."""
        return self.policy is not None and not close_requested

    def plan(
        self, events: list[Event], *, final: bool, refused_status: int | None
    ) -> Reconnecting | None:
        """After a link ended: the ``Reconnecting`` to announce, or ``None`` to stop.

        ``events`` is the dead link's last batch (kept back by the link): it is watched
        first, since its server events (an error code among them) belong to that link, and
        its final ``Closed`` is replaced by the ``Reconnecting``. ``final`` says that no
        retry may happen (close requested, or the first handshake failed);
        ``refused_status`` is the HTTP status of a refused handshake.
        """
        policy = self.policy
        if policy is not None:
            self.watch(events)
        closed = events[-1] if events and isinstance(events[-1], Closed) else None
        if closed is not None:
            self.last_code = closed.code
        if policy is None or final:
            return None
        if closed is not None and not policy.retries_close(closed.code):
            return None
        if self._error_code in NO_RETRY_ERROR_CODES:
            return None
        # A refused handshake that a retry cannot fix (bad key, no such model, forbidden).
        if (
            refused_status is not None
            and 400 <= refused_status < 500
            and refused_status not in (408, 429)
        ):
            return None
        if self.attempt >= policy.max_attempts:
            return None
        self.attempt += 1
        reconnecting = Reconnecting(
            attempt=self.attempt,
            delay=policy.delay(self.attempt),
            close_code=closed.code if closed else None,
        )
        if closed is not None:
            events[-1] = reconnecting
        else:
            events.append(reconnecting)
        self.retrying = True
        return reconnecting

    # -- the queue -------------------------------------------------------------------------

    def enqueue(self, texts: list[str], messages: tuple[dict[str, Any], ...]) -> Pending:
        """Hold messages for the next link.

        Raises:
            SendQueueFullError: They would take the queue past ``max_queued_bytes``.
        """
        limit = self.policy.max_queued_bytes if self.policy is not None else 0
        pending = Pending(texts, messages)
        if self._queued_bytes + pending.size > limit:
            raise SendQueueFullError(limit, messages)
        self._queue.append(pending)
        self._queued_bytes += pending.size
        return pending

    def next_queued(self) -> Pending | None:
        """The oldest message group still waiting, if any (it stays queued)."""
        return self._queue[0] if self._queue else None

    def withdraw(self, pending: Pending) -> None:
        """The sender gave up waiting: drop ``pending`` unless part of it was written.

        A group partly written stays, so that its frames still go out whole and in order.
        """
        if pending.written == 0 and pending in self._queue:
            self._queue.remove(pending)
            self._queued_bytes -= pending.size

    def flushed(self, pending: Pending) -> None:
        """``pending`` was written whole: release its sender."""
        self._queue.remove(pending)
        self._queued_bytes -= pending.size
        self.sent(pending.messages)
        pending.done.set()

    def fail_queue(self) -> tuple[dict[str, Any], ...]:
        """No next link: hand every unwritten message back to its sender; return them all."""
        queue, self._queue, self._queued_bytes = self._queue, [], 0
        unsent: list[dict[str, Any]] = []
        for pending in queue:
            # Messages whose texts all left a socket were sent; the rest are handed back.
            rest = pending.messages[_messages_written(pending) :]
            unsent.extend(rest)
            pending.error = ConnError("reconnecting failed; not sent", unsent=rest)
            pending.done.set()
        return tuple(unsent)


def _messages_written(pending: Pending) -> int:
    # One text per message (encode_messages maps them one to one).
    return min(pending.written, len(pending.messages))
