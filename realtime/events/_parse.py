"""Turning received frames into event objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from realtime._errors import InvalidFrameError

from ._base import UnknownEvent
from ._connection_events import ConnectionEvent
from ._server import EVENT_TYPES, ServerEvent

__all__ = ["Event", "parse_event", "parse_text"]

_E = TypeVar("_E")

Event = ServerEvent | UnknownEvent | ConnectionEvent
"""Anything a connection reports: a server event, an unknown server event, or a notification."""


def _reject_constant(name: str) -> NoReturn:
    # json.loads accepts NaN and Infinity by default; they are not JSON.
    raise ValueError(f"{name} is not valid JSON")


# One decoder, built once: ``json.loads(text, parse_constant=...)`` would build a new decoder
# per call, which costs more than decoding a small frame.
_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_scan_once = _decoder.scan_once  # type: ignore[attr-defined]  # set in __init__, not in typeshed


def _decode(text: str) -> Any:
    # The C scanner straight away: ``JSONDecoder.decode`` adds two regex whitespace matches
    # and a Python frame per call, a fifth of the cost of decoding a small frame. Anything
    # unusual (leading whitespace, trailing data, errors) goes through ``decode`` for its
    # exact behaviour and messages.
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        return _decoder.decode(text)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        return _decoder.decode(text)
    return obj


_EVENT_TYPES_GET = EVENT_TYPES.get


def parse_event(obj: dict[str, Any]) -> ServerEvent | UnknownEvent:
    """Wrap a decoded frame in its event class.

    Only the frame's shape is checked: it must be a dict with a string ``type`` and, for a
    known type, every top-level key that the API reference marks required. Field values and
    nested objects are not validated (the event's properties return them as sent), which keeps
    parsing to one dict lookup, one set comparison and one small allocation per frame.

    Args:
        obj: The result of ``json.loads`` on one text frame. It is wrapped, not copied.

    Returns:
        An instance of the class for ``obj["type"]``, or :class:`UnknownEvent` for a type this
        library does not know.

    Raises:
        InvalidFrameError: ``obj`` is not a dict, has no string ``type``, or lacks a required
            key. ``frame`` is ``obj``.
    """
    try:
        cls = _EVENT_TYPES_GET(obj["type"])
    except (KeyError, TypeError, IndexError):
        # Not a dict, no "type", or an unhashable "type": diagnose off the fast path.
        _raise_shape_error(obj)
    if cls is None:
        return _parse_unknown(obj)
    if type(obj) is not dict and not isinstance(obj, dict):
        _raise_shape_error(obj)
    if cls._required <= obj.keys():
        return cls(obj)  # type: ignore[return-value]  # EVENT_TYPES only holds ServerEvent classes
    missing = ", ".join(sorted(cls._required - obj.keys()))
    raise InvalidFrameError(f"{obj['type']} event without required key(s): {missing}", frame=obj)


def _parse_unknown(obj: Any) -> UnknownEvent:
    if not isinstance(obj, dict):
        _raise_shape_error(obj)
    if not isinstance(obj["type"], str):
        raise InvalidFrameError(
            f"event 'type' must be a string, not {type(obj['type']).__name__}", frame=obj
        )
    return UnknownEvent(obj)


def _raise_shape_error(obj: Any) -> NoReturn:
    if not isinstance(obj, dict):
        raise InvalidFrameError(
            f"an event must be a JSON object, not {type(obj).__name__}", frame=obj
        ) from None
    if "type" not in obj:
        raise InvalidFrameError("event without a 'type'", frame=obj) from None
    raise InvalidFrameError(
        f"event 'type' must be a string, not {type(obj['type']).__name__}", frame=obj
    ) from None


def parse_text(text: str) -> ServerEvent | UnknownEvent:
    """Decode one JSON text frame and wrap it with :func:`parse_event`.

    Args:
        text: The frame's text.

    Returns:
        The event, as :func:`parse_event` returns it.

    Raises:
        InvalidFrameError: The text is not a JSON object (invalid JSON, ``NaN`` or
            ``Infinity``, an array, nesting too deep, ...), or not a valid event as
            :func:`parse_event` checks it. ``frame`` is ``text``.
    """
    return _parse_text_with(text, parse_event)


def _parse_text_with(text: str, parse: Callable[[Any], _E]) -> _E:
    # Shared with the translation parser, which has a table of its own.
    try:
        obj = _decode(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidFrameError(f"frame is not valid JSON: {exc}", frame=text) from exc
    try:
        return parse(obj)
    except InvalidFrameError as exc:
        exc.frame = text
        raise
