"""Live translation sessions (``/v1/realtime/translations``): the session object and its
``session.update`` merging, shaped after the official ``RealtimeTranslationSession`` types.

Translation sessions have their own small protocol: ``session.update`` (only ``audio``),
``session.input_audio_buffer.append`` and ``session.close`` from the client;
``session.created``/``session.updated``, ``session.input_transcript.delta``,
``session.output_transcript.delta``, ``session.output_audio.delta`` and ``session.closed`` from
the server. No recording of one exists here: defaults are inferred from the API reference.
"""

from __future__ import annotations

import copy
from typing import Any

from ._errors import ClientError
from ._session import (
    SESSION_DURATION_S,
    expect_number,
    expect_object,
    expect_str,
    invalid_value,
    missing_parameter,
    unknown_parameter,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "apply_translation_update",
    "default_translation_session",
]

DEFAULT_LANGUAGE = "en"  # inferred: the reference names no default target language


def default_translation_session(session_id: str, model: str, now: float) -> dict[str, Any]:
    """A ``translation`` session object, as ``session.created`` announces it."""
    return {
        "type": "translation",
        "id": session_id,
        "model": model,
        "expires_at": int(now) + SESSION_DURATION_S,
        "audio": {
            "input": {"transcription": None, "noise_reduction": None},
            "output": {"language": DEFAULT_LANGUAGE},
        },
    }


def _keys(value: dict[str, Any], allowed: set[str], param: str) -> None:
    for key in value:
        if key not in allowed:
            raise unknown_parameter(f"{param}.{key}")


def apply_translation_update(session: dict[str, Any], update: object) -> dict[str, Any]:
    """Merge a translation ``session.update``'s ``session`` into ``session``; return the new one.

    Only ``audio.output.language``, ``audio.input.transcription`` and
    ``audio.input.noise_reduction`` can change (the SDK's update request type); ``type`` and
    ``model`` are set at creation.

    Raises:
        ClientError: A field is unknown, of the wrong type, or has an unsupported value.
    """
    given = expect_object(update, "session")
    if "type" in given and given["type"] != "translation":
        raise ClientError(
            "invalid_value",
            f"Cannot update a translation session to a {given['type']} session.",
            param="session.type",
        )
    for key in given:
        if key in ("model", "type"):
            continue  # accepted, unchanged: set at creation
        if key != "audio":
            raise unknown_parameter(f"session.{key}")
    merged = copy.deepcopy(session)
    if "audio" not in given:
        return merged
    audio = expect_object(given["audio"], "session.audio")
    _keys(audio, {"input", "output"}, "session.audio")
    if "output" in audio:
        output = expect_object(audio["output"], "session.audio.output")
        _keys(output, {"language"}, "session.audio.output")
        if "language" in output:
            language = expect_str(output["language"], "session.audio.output.language")
            merged["audio"]["output"]["language"] = language
    if "input" in audio:
        given_input = expect_object(audio["input"], "session.audio.input")
        _keys(given_input, {"transcription", "noise_reduction"}, "session.audio.input")
        target = merged["audio"]["input"]
        if "transcription" in given_input:
            target["transcription"] = _transcription(given_input["transcription"])
        if "noise_reduction" in given_input:
            target["noise_reduction"] = _noise_reduction(
                given_input["noise_reduction"], target["noise_reduction"]
            )
    return merged


def _transcription(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    param = "session.audio.input.transcription"
    given = expect_object(value, param)
    _keys(given, {"model"}, param)
    if "model" not in given:
        raise missing_parameter(f"{param}.model")
    return {"model": expect_str(given["model"], f"{param}.model")}


def _noise_reduction(value: object, current: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    param = "session.audio.input.noise_reduction"
    given = expect_object(value, param)
    _keys(given, {"type", "strength"}, param)
    if "type" not in given:
        raise missing_parameter(f"{param}.type")
    kind = given["type"]
    if kind not in ("near_field", "far_field"):
        raise invalid_value(f"{param}.type", kind, ["near_field", "far_field"])
    out: dict[str, Any] = {"type": kind}
    if "strength" in given:
        out["strength"] = expect_number(given["strength"], f"{param}.strength")
    elif current is not None and "strength" in current:
        out["strength"] = current["strength"]  # omitted: the current strength is kept
    return out
