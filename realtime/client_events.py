"""Typed client events of the OpenAI Realtime API (GA protocol), and builders for them.

Client events are plain dicts, ready for ``json.dumps``; the ``TypedDict`` classes here let
mypy check their top-level keys. The builders fill in ``type``, leave out optional keys that
were not given, and base64-encode audio bytes::

    await conn.send_message(client_events.user_message("Hello!"))
    await conn.send_message(client_events.response_create())

Nested payloads (the ``session`` of ``session.update``, the ``item`` of
``conversation.item.create``, the ``response`` of ``response.create``) are typed as
``dict[str, Any]``: they are passed through unchecked. The server-side TypedDicts in
:mod:`realtime.events` (``Session``, ``ConversationItem``...) describe the same shapes, and can
be used to annotate what you pass to the builders.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

__all__ = [
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "conversation_item_create",
    "conversation_item_delete",
    "conversation_item_retrieve",
    "conversation_item_truncate",
    "function_call_output",
    "input_audio_buffer_append",
    "input_audio_buffer_clear",
    "input_audio_buffer_commit",
    "output_audio_buffer_clear",
    "response_cancel",
    "response_create",
    "session_update",
    "user_message",
]

# Each event is a required-keys base plus a ``total=False`` subclass for the optional keys:
# ``typing.NotRequired`` needs Python 3.11 (or typing_extensions, which is not a dependency).


class _SessionUpdateRequired(TypedDict):
    type: Literal["session.update"]
    session: dict[str, Any]


class SessionUpdate(_SessionUpdateRequired, total=False):
    """``session.update``: change the session's configuration."""

    event_id: str | None


class _InputAudioBufferAppendRequired(TypedDict):
    type: Literal["input_audio_buffer.append"]
    audio: str


class InputAudioBufferAppend(_InputAudioBufferAppendRequired, total=False):
    """``input_audio_buffer.append``: add base64-encoded audio to the input buffer."""

    event_id: str | None


class _InputAudioBufferCommitRequired(TypedDict):
    type: Literal["input_audio_buffer.commit"]


class InputAudioBufferCommit(_InputAudioBufferCommitRequired, total=False):
    """``input_audio_buffer.commit``: turn the input buffer into a user message item."""

    event_id: str | None


class _InputAudioBufferClearRequired(TypedDict):
    type: Literal["input_audio_buffer.clear"]


class InputAudioBufferClear(_InputAudioBufferClearRequired, total=False):
    """``input_audio_buffer.clear``: discard the input buffer."""

    event_id: str | None


class _ConversationItemCreateRequired(TypedDict):
    type: Literal["conversation.item.create"]
    item: dict[str, Any]


class ConversationItemCreate(_ConversationItemCreateRequired, total=False):
    """``conversation.item.create``: add an item to the conversation."""

    event_id: str | None
    previous_item_id: str | None


class _ConversationItemRetrieveRequired(TypedDict):
    type: Literal["conversation.item.retrieve"]
    item_id: str


class ConversationItemRetrieve(_ConversationItemRetrieveRequired, total=False):
    """``conversation.item.retrieve``: ask for an item (answered by ``.retrieved``)."""

    event_id: str | None


class _ConversationItemTruncateRequired(TypedDict):
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemTruncate(_ConversationItemTruncateRequired, total=False):
    """``conversation.item.truncate``: cut an assistant audio item at a point in time."""

    event_id: str | None


class _ConversationItemDeleteRequired(TypedDict):
    type: Literal["conversation.item.delete"]
    item_id: str


class ConversationItemDelete(_ConversationItemDeleteRequired, total=False):
    """``conversation.item.delete``: remove an item from the conversation."""

    event_id: str | None


class _ResponseCreateRequired(TypedDict):
    type: Literal["response.create"]


class ResponseCreate(_ResponseCreateRequired, total=False):
    """``response.create``: ask the model for a response."""

    event_id: str | None
    response: dict[str, Any] | None


class _ResponseCancelRequired(TypedDict):
    type: Literal["response.cancel"]


class ResponseCancel(_ResponseCancelRequired, total=False):
    """``response.cancel``: stop the active (or the given) response."""

    event_id: str | None
    response_id: str | None


class _OutputAudioBufferClearRequired(TypedDict):
    type: Literal["output_audio_buffer.clear"]


class OutputAudioBufferClear(_OutputAudioBufferClearRequired, total=False):
    """``output_audio_buffer.clear``: stop playing the output audio (WebRTC/SIP only)."""

    event_id: str | None


ClientEvent = (
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ConversationItemDelete
    | ResponseCreate
    | ResponseCancel
    | OutputAudioBufferClear
)
"""Any of the 11 client events."""


def session_update(session: Mapping[str, Any], *, event_id: str | None = None) -> SessionUpdate:
    """Build a ``session.update`` event.

    Args:
        session: The session configuration, e.g. ``{"type": "realtime", "instructions": ...}``;
            copied (shallowly), not checked.
        event_id: An optional client-chosen id, echoed in any ``error`` it causes.

    Returns:
        The event dict.
    """
    event: SessionUpdate = {"type": "session.update", "session": dict(session)}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def input_audio_buffer_append(
    audio: bytes | str, *, event_id: str | None = None
) -> InputAudioBufferAppend:
    """Build an ``input_audio_buffer.append`` event.

    Args:
        audio: Raw audio bytes in the session's input format (base64-encoded here), or a
            string that is already base64.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    if not isinstance(audio, str):
        audio = base64.b64encode(audio).decode("ascii")
    event: InputAudioBufferAppend = {"type": "input_audio_buffer.append", "audio": audio}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def input_audio_buffer_commit(*, event_id: str | None = None) -> InputAudioBufferCommit:
    """Build an ``input_audio_buffer.commit`` event.

    Args:
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: InputAudioBufferCommit = {"type": "input_audio_buffer.commit"}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def input_audio_buffer_clear(*, event_id: str | None = None) -> InputAudioBufferClear:
    """Build an ``input_audio_buffer.clear`` event.

    Args:
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: InputAudioBufferClear = {"type": "input_audio_buffer.clear"}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def conversation_item_create(
    item: Mapping[str, Any],
    previous_item_id: str | None = None,
    *,
    event_id: str | None = None,
) -> ConversationItemCreate:
    """Build a ``conversation.item.create`` event.

    Args:
        item: The item, e.g. a message or a ``function_call_output``; copied (shallowly), not
            checked.
        previous_item_id: Insert after this item (``"root"`` for the start); appended at the
            end when omitted.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: ConversationItemCreate = {"type": "conversation.item.create", "item": dict(item)}
    if previous_item_id is not None:
        event["previous_item_id"] = previous_item_id
    if event_id is not None:
        event["event_id"] = event_id
    return event


def user_message(
    text: str, *, previous_item_id: str | None = None, event_id: str | None = None
) -> ConversationItemCreate:
    """Build a ``conversation.item.create`` event adding a user text message.

    Args:
        text: The message text.
        previous_item_id: As for :func:`conversation_item_create`.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    return conversation_item_create(item, previous_item_id, event_id=event_id)


def function_call_output(
    call_id: str, output: str, *, event_id: str | None = None
) -> ConversationItemCreate:
    """Build a ``conversation.item.create`` event answering a function call.

    Send a :func:`response_create` after it for the model to use the result.

    Args:
        call_id: The ``call_id`` of the ``function_call`` item being answered.
        output: The function's result, usually JSON text.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return conversation_item_create(item, event_id=event_id)


def conversation_item_retrieve(
    item_id: str, *, event_id: str | None = None
) -> ConversationItemRetrieve:
    """Build a ``conversation.item.retrieve`` event.

    Args:
        item_id: The item to retrieve.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: ConversationItemRetrieve = {"type": "conversation.item.retrieve", "item_id": item_id}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def conversation_item_delete(
    item_id: str, *, event_id: str | None = None
) -> ConversationItemDelete:
    """Build a ``conversation.item.delete`` event.

    Args:
        item_id: The item to delete.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: ConversationItemDelete = {"type": "conversation.item.delete", "item_id": item_id}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def conversation_item_truncate(
    item_id: str, content_index: int, audio_end_ms: int, *, event_id: str | None = None
) -> ConversationItemTruncate:
    """Build a ``conversation.item.truncate`` event.

    Args:
        item_id: The assistant message item to truncate.
        content_index: The index of its audio content part (usually 0).
        audio_end_ms: Keep the audio up to this many milliseconds (what the user heard).
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: ConversationItemTruncate = {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    }
    if event_id is not None:
        event["event_id"] = event_id
    return event


def response_create(
    response: Mapping[str, Any] | None = None, *, event_id: str | None = None
) -> ResponseCreate:
    """Build a ``response.create`` event.

    Args:
        response: Per-response settings overriding the session's (``instructions``,
            ``output_modalities``, ``conversation``...); copied (shallowly), not checked.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: ResponseCreate = {"type": "response.create"}
    if response is not None:
        event["response"] = dict(response)
    if event_id is not None:
        event["event_id"] = event_id
    return event


def response_cancel(
    response_id: str | None = None, *, event_id: str | None = None
) -> ResponseCancel:
    """Build a ``response.cancel`` event.

    Args:
        response_id: The response to cancel; the active one when omitted.
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: ResponseCancel = {"type": "response.cancel"}
    if response_id is not None:
        event["response_id"] = response_id
    if event_id is not None:
        event["event_id"] = event_id
    return event


def output_audio_buffer_clear(*, event_id: str | None = None) -> OutputAudioBufferClear:
    """Build an ``output_audio_buffer.clear`` event.

    Args:
        event_id: An optional client-chosen id.

    Returns:
        The event dict.
    """
    event: OutputAudioBufferClear = {"type": "output_audio_buffer.clear"}
    if event_id is not None:
        event["event_id"] = event_id
    return event
