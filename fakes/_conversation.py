"""The conversation: an ordered list of items, as the real service keeps it per session.

Items are stored the way the service echoes them (``conversation.item.added``/``.done``):
with an ``id``, a ``status``, and for messages the content parts as given.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._errors import ClientError
from ._mcp import MCP_ITEM_TYPES, normalize_mcp_item
from ._session import (
    expect_choice,
    expect_object,
    expect_str,
    given_fields,
    invalid_type,
    invalid_value,
    missing_parameter,
    required_list,
    schema_name,
)

__all__ = ["Conversation", "item_tokens", "json_copy", "normalize_item", "text_of", "tokens"]

_CONTENT_BY_ROLE = {
    "user": ["input_text", "input_audio", "input_image"],
    "system": ["input_text"],
    "assistant": ["output_text", "output_audio"],
}


def _normalize_part(part: object, param: str, schema: str, role: str) -> dict[str, Any]:
    given = given_fields(expect_object(part, param), schema, param)
    kind = expect_choice(given.get("type"), f"{param}.type", _CONTENT_BY_ROLE[role])
    if kind in ("input_text", "output_text"):
        return {"type": kind, "text": expect_str(given.get("text", ""), f"{param}.text")}
    if kind in ("input_audio", "output_audio"):
        out: dict[str, Any] = {"type": kind}
        if "audio" in given:
            out["audio"] = expect_str(given["audio"], f"{param}.audio")
        out["transcript"] = expect_str(
            given.get("transcript"), f"{param}.transcript", nullable=True
        )
        return out
    # input_image: the SDK's one content type has every kind's fields; keep this kind's.
    return {key: given[key] for key in ("type", "image_url", "detail") if key in given}


def normalize_item(raw: object, new_id: Callable[[], str], param: str = "item") -> dict[str, Any]:
    """Validate a client-given item and return it as the service stores it.

    Raises:
        ClientError: The item is not one the service accepts.
    """
    item = expect_object(raw, param)
    if item.get("type") is None:
        raise missing_parameter(f"{param}.type")
    kind = expect_choice(
        item["type"],
        f"{param}.type",
        ["message", "function_call", "function_call_output", *MCP_ITEM_TYPES],
    )
    if kind == "message":
        if item.get("role") is None:
            raise missing_parameter(f"{param}.role")
        role = expect_choice(item["role"], f"{param}.role", ["user", "system", "assistant"])
        schema = schema_name(param, f"message/{role}")
    else:
        schema = schema_name(param, kind)
    item = given_fields(item, schema, param)
    if kind in MCP_ITEM_TYPES:
        return normalize_mcp_item(item, kind, param, schema, new_id)
    item_id = item.get("id")
    if item_id is not None:
        expect_str(item_id, f"{param}.id")
    out: dict[str, Any] = {"id": item_id or new_id(), "type": kind}
    if kind == "message":
        content = required_list(item, "content", param)
        out["status"] = "completed"
        out["role"] = role
        out["content"] = [
            _normalize_part(part, f"{param}.content[{i}]", f"{schema}.content", role)
            for i, part in enumerate(content)
        ]
    elif kind == "function_call":
        for key in ("name", "arguments"):
            if key not in item:
                raise missing_parameter(f"{param}.{key}")
        out["status"] = "completed"
        out["name"] = expect_str(item["name"], f"{param}.name")
        out["call_id"] = expect_str(item.get("call_id", ""), f"{param}.call_id")
        out["arguments"] = expect_str(item["arguments"], f"{param}.arguments")
    else:
        for key in ("call_id", "output"):
            if key not in item:
                raise missing_parameter(f"{param}.{key}")
        out["call_id"] = expect_str(item["call_id"], f"{param}.call_id")
        out["output"] = expect_str(item["output"], f"{param}.output")
    return out


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars): several times faster than
    ``copy.deepcopy``, which the fake would otherwise pay on every event it sends."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


def text_of(item: dict[str, Any]) -> str:
    """The text of an item's content parts (texts and transcripts), joined by spaces."""
    parts = []
    for part in item.get("content") or []:
        if part.get("type") in ("input_text", "output_text"):
            parts.append(part.get("text") or "")
        elif part.get("transcript"):
            parts.append(part["transcript"])
    return " ".join(p for p in parts if p)


def tokens(text: str) -> int:
    """The fake's token count of ``text``: one per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def item_tokens(item: dict[str, Any], audio_ms: int) -> tuple[int, int]:
    """The input tokens an item counts for: (text, audio), as usage reports them."""
    # An MCP call's output is null until it completes.
    text = tokens(text_of(item) + (item.get("output") or "") + (item.get("arguments") or ""))
    return text, math.ceil(audio_ms / 100)


class Conversation:
    """The items of one session's default conversation, in order.

    Items are indexed by id, and their token counts kept as running totals, so that a response's
    usage and an item lookup cost the same on the 5,000th turn as on the first. Code that changes
    an item in place after inserting it (a transcript, streamed content, a truncation) calls
    :meth:`touch` so that its tokens are counted again.
    """

    def __init__(self, conversation_id: str) -> None:
        self.id = conversation_id
        self.items: list[dict[str, Any]] = []
        # Milliseconds of audio per item id (assistant replies, committed user audio); set it
        # with set_audio_ms so that the item's tokens are counted again.
        self.audio_ms: dict[str, int] = {}
        # Assistant items whose audio the client truncated: audio_end_ms per item id. A reply
        # still streaming no longer extends the stored audio and transcript of such an item.
        self.truncated: dict[str, int] = {}
        self._by_id: dict[str, dict[str, Any]] = {}
        # Position of each item in ``items``; rebuilt after an insertion or a deletion that is
        # not at the end (rare: appending is the common case and keeps it valid).
        self._position: dict[str, int] = {}
        self._positions_valid = True
        self._counted: dict[str, tuple[int, int]] = {}
        self._dirty: set[str] = set()
        self._text_total = 0
        self._audio_total = 0

    @property
    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def index(self, item_id: str) -> int | None:
        if item_id not in self._by_id:
            return None
        if not self._positions_valid:
            self._position = {item["id"]: i for i, item in enumerate(self.items)}
            self._positions_valid = True
        return self._position[item_id]

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_id.get(item_id)

    def previous_id(self, item_id: str) -> str | None:
        i = self.index(item_id)
        return None if not i else self.items[i - 1]["id"]

    def insert(self, item: dict[str, Any], previous_item_id: str | None = None) -> str | None:
        """Add ``item`` after ``previous_item_id`` (at the end when ``None``, first for
        ``"root"``); return the id of the item now before it.

        Raises:
            ClientError: The id is taken, or ``previous_item_id`` is not in the conversation.
        """
        item_id = item["id"]
        if item_id in self._by_id:
            raise ClientError(
                "item_id_already_exists",  # assumed code; the message follows the service's style
                f"Item with id '{item_id}' already exists.",
                param="item.id",
            )
        if previous_item_id is None:
            position = len(self.items)
        elif previous_item_id == "root":
            position = 0
        else:
            found = self.index(previous_item_id)
            if found is None:
                raise ClientError(
                    "invalid_value",
                    f"Invalid 'previous_item_id': no item with id '{previous_item_id}'.",
                    param="previous_item_id",
                )
            position = found + 1
        if position == len(self.items):
            self.items.append(item)
            if self._positions_valid:
                self._position[item_id] = position
        else:
            self.items.insert(position, item)
            self._positions_valid = False
        self._by_id[item_id] = item
        self._dirty.add(item_id)
        return self.items[position - 1]["id"] if position else None

    def require(self, item_id: object, code: str, verb: str) -> dict[str, Any]:
        """The item with ``item_id``, or the service's error for an unknown id.

        Raises:
            ClientError: ``item_id`` is not a string, or no item has it.
        """
        if not isinstance(item_id, str):
            raise invalid_type("item_id", "a string", item_id)
        item = self.get(item_id)
        if item is None:
            raise ClientError(
                code,
                f"Error {verb} item: the item with id '{item_id}' does not exist.",
                param="item_id",
            )
        return item

    def delete(self, item_id: str) -> None:
        i = self.index(item_id)
        if i is not None:
            del self.items[i]
            del self._by_id[item_id]
            if i == len(self.items):
                self._position.pop(item_id, None)
            else:
                self._positions_valid = False
            text, audio = self._counted.pop(item_id, (0, 0))
            self._text_total -= text
            self._audio_total -= audio
            self._dirty.discard(item_id)
        self.audio_ms.pop(item_id, None)
        self.truncated.pop(item_id, None)

    def set_audio_ms(self, item_id: str, ms: int) -> None:
        """Record the duration of the audio of an item in the conversation (its audio tokens
        follow); an item not in it is ignored."""
        if item_id in self._by_id:
            self.audio_ms[item_id] = ms
            self._dirty.add(item_id)

    def truncate_audio(self, item_id: str, part: dict[str, Any], audio_end_ms: int) -> None:
        """Cut an item's audio at ``audio_end_ms``, and drop its now unreliable transcript."""
        part["transcript"] = ""
        self.truncated[item_id] = audio_end_ms
        self.set_audio_ms(item_id, audio_end_ms)

    def touch(self, item_id: str) -> None:
        """Count the tokens of the item again: it was changed in place."""
        if item_id in self._by_id:
            self._dirty.add(item_id)

    def _recount(self) -> None:
        for item_id in self._dirty:
            text, audio = item_tokens(self._by_id[item_id], self.audio_ms.get(item_id, 0))
            old_text, old_audio = self._counted.get(item_id, (0, 0))
            self._counted[item_id] = (text, audio)
            self._text_total += text - old_text
            self._audio_total += audio - old_audio
        self._dirty.clear()

    def token_totals(self) -> tuple[int, int]:
        """The input tokens of all the items: (text, audio)."""
        if self._dirty:
            self._recount()
        return self._text_total, self._audio_total

    def tokens_of(self, item_id: str) -> tuple[int, int]:
        """The input tokens of one item in the conversation: (text, audio); (0, 0) if absent."""
        if self._dirty:
            self._recount()
        return self._counted.get(item_id, (0, 0))

    def snapshot(self) -> list[dict[str, Any]]:
        return [json_copy(item) for item in self.items]


def check_content_index(item: dict[str, Any], content_index: object) -> dict[str, Any]:
    """The content part at ``content_index`` of a message item, or an error."""
    if isinstance(content_index, bool) or not isinstance(content_index, int):
        raise invalid_type("content_index", "an integer", content_index)
    content = item.get("content") or []
    if not 0 <= content_index < len(content):
        raise invalid_value("content_index", content_index)
    part: dict[str, Any] = content[content_index]
    return part
