"""Typed client events of the OpenAI Realtime API (GA protocol), and builders for them.

Client events are plain dicts, ready for ``json.dumps``; the ``TypedDict`` classes here let
mypy check their top-level keys. The builders fill in ``type``, leave out optional keys that
were not given, and base64-encode audio bytes. Each takes an optional keyword ``event_id``, a
client-chosen id that the server echoes in any ``error`` the event causes, and returns the
event dict::

    await conn.send_message(client_events.user_message("Hello!"))
    await conn.send_message(client_events.response_create())

Nested payloads (the ``session`` of ``session.update``, the ``item`` of
``conversation.item.create``, the ``response`` of ``response.create``) are typed as
``dict[str, Any]``: they are passed through unchecked. The server-side TypedDicts in
:mod:`realtime.events` (``Session``, ``ConversationItem``...) describe the same shapes, and can
be used to annotate what you pass to the builders.
"""

from .events._client import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    conversation_item_create,
    conversation_item_delete,
    conversation_item_retrieve,
    conversation_item_truncate,
    function_call_output,
    input_audio_buffer_append,
    input_audio_buffer_clear,
    input_audio_buffer_commit,
    output_audio_buffer_clear,
    response_cancel,
    response_create,
    session_update,
    user_message,
)

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
