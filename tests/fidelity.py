"""Proof of fidelity: every server event the fake sends must validate, strictly, against the
official ``openai`` package's ``RealtimeServerEvent`` type, and carry no field the real service
does not send."""

from __future__ import annotations

import json
from typing import Any

from openai.types.realtime import RealtimeServerEvent, RealtimeTranslationServerEvent
from pydantic import BaseModel, TypeAdapter

ADAPTER: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)
TRANSLATION_ADAPTER: TypeAdapter[Any] = TypeAdapter(RealtimeTranslationServerEvent)
# The events only translation sessions send; their session.created/updated show a session of
# type "translation".
TRANSLATION_ONLY = frozenset(
    {
        "session.closed",
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.output_audio.delta",
    }
)


def is_translation_event(event: dict[str, Any]) -> bool:
    """Whether ``event`` is a translation session's (validated against the translation union)."""
    session = event.get("session")
    return event.get("type") in TRANSLATION_ONLY or (
        isinstance(session, dict) and session.get("type") == "translation"
    )


#: The 46 server event types of the GA protocol, from the official package's union.
ALL_SERVER_EVENT_TYPES: frozenset[str] = frozenset(
    str(model.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]
    for model in RealtimeServerEvent.__origin__.__args__  # type: ignore[attr-defined]
)

# Fields the real OpenAI service sends that the official types do not declare (seen in the
# recordings): the session object's own id/object/expires_at, and ``obfuscation`` padding on deltas.
# (Azure's extra ``content`` on content parts is not OpenAI's, so the fake must not send it.)
KNOWN_EXTRAS: frozenset[str] = frozenset(
    {"session.id", "session.object", "session.expires_at", "obfuscation"}
)


def _extras(value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, BaseModel):
        for name in value.model_extra or {}:
            tail = f"{path.rsplit('.', 1)[-1]}.{name}"
            if name not in KNOWN_EXTRAS and tail not in KNOWN_EXTRAS:
                found.append(f"{path}.{name}")
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, element in enumerate(value):
            found += _extras(element, f"{path}[{i}]")
    return found


def validate_server_event(event: dict[str, Any]) -> Any:
    """Validate ``event`` strictly; raise ``AssertionError`` saying what is wrong."""
    # Round-trip through JSON first: the wire carries JSON, not Python objects.
    wire = json.loads(json.dumps(event))
    adapter = TRANSLATION_ADAPTER if is_translation_event(wire) else ADAPTER
    try:
        model = adapter.validate_python(wire, strict=True)
    except Exception as exc:
        raise AssertionError(
            f"the fake sent an invalid {event.get('type')!r} event:\n{exc}\n{wire}"
        ) from None
    extras = _extras(model, str(event.get("type")))
    assert not extras, f"the fake sent fields the real service does not: {extras}\n{wire}"
    return model
