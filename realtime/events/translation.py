"""Live translation sessions: their server events and client events.

A translation session (``realtime.connect(..., translation=True)``, the
``/v1/realtime/translations`` endpoint) has a protocol of its own: the client streams audio with
``session.input_audio_buffer.append`` and the server streams the translation back as
``session.output_transcript.delta`` and ``session.output_audio.delta`` (and the source
transcript as ``session.input_transcript.delta`` when input transcription is configured). A
connection opened with ``translation=True`` parses frames with :func:`parse_text` of this module,
so ``session.created`` is a :class:`SessionCreated` of a translation session, not the realtime
session's event.

The server event classes are generated from the official SDK's translation types
(``tools/gen_translation_events.py``); ``error`` is the shared :class:`ErrorEvent`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

from realtime._errors import InvalidFrameError

from ._base import UnknownEvent
from ._client import _ClientEventBase, _identified
from ._parse import _parse_text_with, _parse_unknown, _raise_shape_error
from ._server import ErrorEvent
from ._translation import (
    TRANSLATION_EVENT_TYPES,
    InputTranscriptDelta,
    OutputAudioDelta,
    OutputTranscriptDelta,
    SessionClosed,
    SessionCreated,
    SessionUpdated,
    TranslationAudio,
    TranslationAudioInput,
    TranslationAudioInputNoiseReduction,
    TranslationAudioInputTranscription,
    TranslationAudioOutput,
    TranslationServerEvent,
    TranslationSession,
)

__all__ = [
    "TRANSLATION_EVENT_TYPES",
    "ErrorEvent",
    "InputAudioBufferAppend",
    "InputTranscriptDelta",
    "OutputAudioDelta",
    "OutputTranscriptDelta",
    "SessionClose",
    "SessionClosed",
    "SessionCreated",
    "SessionUpdate",
    "SessionUpdated",
    "TranslationAudio",
    "TranslationAudioInput",
    "TranslationAudioInputNoiseReduction",
    "TranslationAudioInputTranscription",
    "TranslationAudioOutput",
    "TranslationServerEvent",
    "TranslationSession",
    "input_audio_buffer_append",
    "parse_event",
    "parse_text",
    "session_close",
    "session_update",
]


def parse_event(obj: dict[str, Any]) -> TranslationServerEvent | UnknownEvent:
    """Wrap a decoded frame of a translation session in its event class (shape checks as
    :func:`realtime.events.parse_event`).

    Raises:
        InvalidFrameError: ``obj`` is not a dict, has no string ``type``, or lacks a required
            key.
    """
    try:
        cls = TRANSLATION_EVENT_TYPES.get(obj["type"])
    except (KeyError, TypeError, IndexError):
        _raise_shape_error(obj)
    if cls is None:
        return _parse_unknown(obj)
    if not isinstance(obj, dict):
        _raise_shape_error(obj)
    if cls._required <= obj.keys():
        return cls(obj)  # type: ignore[return-value]  # the table holds only these classes
    missing = ", ".join(sorted(cls._required - obj.keys()))
    raise InvalidFrameError(f"{obj['type']} event without required key(s): {missing}", frame=obj)


def parse_text(text: str) -> TranslationServerEvent | UnknownEvent:
    """Decode one JSON text frame of a translation session and wrap it with
    :func:`parse_event`.

    Raises:
        InvalidFrameError: The text is not a JSON object, or not a valid event.
    """
    return _parse_text_with(text, parse_event)


# -- client events ------------------------------------------------------------------------------


class SessionUpdate(_ClientEventBase):
    """``session.update`` of a translation session: only ``audio`` can change
    (``audio.output.language``, ``audio.input.transcription``, ``audio.input.noise_reduction``).
    """

    type: Literal["session.update"]
    session: dict[str, Any]


class InputAudioBufferAppend(_ClientEventBase):
    """``session.input_audio_buffer.append``: base64 of 24 kHz PCM16 mono audio."""

    type: Literal["session.input_audio_buffer.append"]
    audio: str


class SessionClose(_ClientEventBase):
    """``session.close``: flush the pending audio's translation, then ``session.closed``."""

    type: Literal["session.close"]


def session_update(session: Mapping[str, Any], *, event_id: str | None = None) -> SessionUpdate:
    """Build a translation ``session.update``, e.g.
    ``session_update({"audio": {"output": {"language": "fr"}}})``."""
    event: SessionUpdate = {"type": "session.update", "session": dict(session)}
    return _identified(event, event_id)


def input_audio_buffer_append(pcm: bytes, *, event_id: str | None = None) -> InputAudioBufferAppend:
    """Build a ``session.input_audio_buffer.append`` carrying ``pcm`` (24 kHz PCM16 mono;
    200 ms chunks suit the service best)."""
    event: InputAudioBufferAppend = {
        "type": "session.input_audio_buffer.append",
        "audio": base64.b64encode(pcm).decode("ascii"),
    }
    return _identified(event, event_id)


def session_close(*, event_id: str | None = None) -> SessionClose:
    """Build a ``session.close``."""
    event: SessionClose = {"type": "session.close"}
    return _identified(event, event_id)
