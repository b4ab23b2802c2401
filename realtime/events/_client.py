"""The client events' TypedDicts and builders, public as :mod:`realtime.client_events`."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, TypeVar

# Required keys are declared on each event class and the optional ones on a ``total=False``
# base: TypedDict keeps each class's totality for its own keys (``typing.NotRequired`` needs
# Python 3.11, or typing_extensions, which is not a dependency).


class _ClientEventBase(TypedDict, total=False):
    event_id: str | None


_E = TypeVar("_E", bound=_ClientEventBase)


def _identified(event: _E, event_id: str | None) -> _E:
    # ``event_id`` is left out, not sent as null, when the caller gives none.
    if event_id is not None:
        event["event_id"] = event_id
    return event


class SessionUpdate(_ClientEventBase):
    """``session.update``: change the session's configuration."""

    type: Literal["session.update"]
    session: dict[str, Any]


class InputAudioBufferAppend(_ClientEventBase):
    """``input_audio_buffer.append``: add base64-encoded audio to the input buffer."""

    type: Literal["input_audio_buffer.append"]
    audio: str


class InputAudioBufferCommit(_ClientEventBase):
    """``input_audio_buffer.commit``: turn the input buffer into a user message item."""

    type: Literal["input_audio_buffer.commit"]


class InputAudioBufferClear(_ClientEventBase):
    """``input_audio_buffer.clear``: discard the input buffer."""

    type: Literal["input_audio_buffer.clear"]


class _ConversationItemCreateOptional(_ClientEventBase, total=False):
    previous_item_id: str | None


class ConversationItemCreate(_ConversationItemCreateOptional):
    """``conversation.item.create``: add an item to the conversation."""

    type: Literal["conversation.item.create"]
    item: dict[str, Any]


class ConversationItemRetrieve(_ClientEventBase):
    """``conversation.item.retrieve``: ask for an item (answered by ``.retrieved``)."""

    type: Literal["conversation.item.retrieve"]
    item_id: str


class ConversationItemTruncate(_ClientEventBase):
    """``conversation.item.truncate``: cut an assistant audio item at a point in time."""

    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDelete(_ClientEventBase):
    """``conversation.item.delete``: remove an item from the conversation."""

    type: Literal["conversation.item.delete"]
    item_id: str


class _ResponseCreateOptional(_ClientEventBase, total=False):
    response: dict[str, Any] | None


class ResponseCreate(_ResponseCreateOptional):
    """``response.create``: ask the model for a response."""

    type: Literal["response.create"]


class _ResponseCancelOptional(_ClientEventBase, total=False):
    response_id: str | None


class ResponseCancel(_ResponseCancelOptional):
    """``response.cancel``: stop the active (or the given) response."""

    type: Literal["response.cancel"]


class OutputAudioBufferClear(_ClientEventBase):
    """``output_audio_buffer.clear``: stop playing the output audio (WebRTC/SIP only)."""

    type: Literal["output_audio_buffer.clear"]


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
    """
    event: SessionUpdate = {"type": "session.update", "session": dict(session)}
    return _identified(event, event_id)


def input_audio_buffer_append(
    audio: bytes | str, *, event_id: str | None = None
) -> InputAudioBufferAppend:
    """Build an ``input_audio_buffer.append`` event.

    Args:
        audio: Raw audio bytes in the session's input format (base64-encoded here), or a
            string that is already base64.
    """
    if not isinstance(audio, str):
        audio = base64.b64encode(audio).decode("ascii")
    event: InputAudioBufferAppend = {"type": "input_audio_buffer.append", "audio": audio}
    return _identified(event, event_id)


def input_audio_buffer_commit(*, event_id: str | None = None) -> InputAudioBufferCommit:
    """Build an ``input_audio_buffer.commit`` event."""
    event: InputAudioBufferCommit = {"type": "input_audio_buffer.commit"}
    return _identified(event, event_id)


def input_audio_buffer_clear(*, event_id: str | None = None) -> InputAudioBufferClear:
    """Build an ``input_audio_buffer.clear`` event."""
    event: InputAudioBufferClear = {"type": "input_audio_buffer.clear"}
    return _identified(event, event_id)


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
    """
    event: ConversationItemCreate = {"type": "conversation.item.create", "item": dict(item)}
    if previous_item_id is not None:
        event["previous_item_id"] = previous_item_id
    return _identified(event, event_id)


def user_message(
    text: str, *, previous_item_id: str | None = None, event_id: str | None = None
) -> ConversationItemCreate:
    """Build a ``conversation.item.create`` event adding a user text message.

    Args:
        text: The message text.
        previous_item_id: As for :func:`conversation_item_create`.
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
    """
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return conversation_item_create(item, event_id=event_id)


def conversation_item_retrieve(
    item_id: str, *, event_id: str | None = None
) -> ConversationItemRetrieve:
    """Build a ``conversation.item.retrieve`` event for the item ``item_id``."""
    event: ConversationItemRetrieve = {"type": "conversation.item.retrieve", "item_id": item_id}
    return _identified(event, event_id)


def conversation_item_delete(
    item_id: str, *, event_id: str | None = None
) -> ConversationItemDelete:
    """Build a ``conversation.item.delete`` event for the item ``item_id``."""
    event: ConversationItemDelete = {"type": "conversation.item.delete", "item_id": item_id}
    return _identified(event, event_id)


def conversation_item_truncate(
    item_id: str, content_index: int, audio_end_ms: int, *, event_id: str | None = None
) -> ConversationItemTruncate:
    """Build a ``conversation.item.truncate`` event.

    Args:
        item_id: The assistant message item to truncate.
        content_index: The index of its audio content part (usually 0).
        audio_end_ms: Keep the audio up to this many milliseconds (what the user heard).
    """
    event: ConversationItemTruncate = {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    }
    return _identified(event, event_id)


def response_create(
    response: Mapping[str, Any] | None = None, *, event_id: str | None = None
) -> ResponseCreate:
    """Build a ``response.create`` event.

    Args:
        response: Per-response settings overriding the session's (``instructions``,
            ``output_modalities``, ``conversation``...); copied (shallowly), not checked.
    """
    event: ResponseCreate = {"type": "response.create"}
    if response is not None:
        event["response"] = dict(response)
    return _identified(event, event_id)


def response_cancel(
    response_id: str | None = None, *, event_id: str | None = None
) -> ResponseCancel:
    """Build a ``response.cancel`` event.

    Args:
        response_id: The response to cancel; the active one when omitted.
    """
    event: ResponseCancel = {"type": "response.cancel"}
    if response_id is not None:
        event["response_id"] = response_id
    return _identified(event, event_id)


def output_audio_buffer_clear(*, event_id: str | None = None) -> OutputAudioBufferClear:
    """Build an ``output_audio_buffer.clear`` event."""
    event: OutputAudioBufferClear = {"type": "output_audio_buffer.clear"}
    return _identified(event, event_id)
