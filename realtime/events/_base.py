"""The shared behaviour of the server event classes: frozen, slotted, lazy views over a dict."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

__all__ = ["ServerEventBase", "UnknownEvent"]

# Longest repr of one field value before ``__repr__`` shortens it; audio deltas are kilobytes.
_REPR_LIMIT = 60


class ServerEventBase:
    """Base class of the server event views.

    An event wraps the dict that ``json.loads`` produced for one frame, without copying or
    converting it: each field is a read-only property that reads the dict when accessed. That
    keeps the per-frame cost to one object allocation, which matters for audio deltas that
    arrive dozens of times a second.

    Parsing (:func:`realtime.events.parse_event`) checks only that the frame is a JSON object
    with a string ``type`` and all the required top-level keys of its class. Field values and
    nested objects are *not* validated: a property returns whatever the server sent, typed as
    the API reference says it should be. Nested objects are returned as the raw dicts, typed
    with the ``TypedDict`` classes of :mod:`realtime.events`.

    Events are immutable: attributes cannot be set or deleted. The wrapped dict is shared, not
    copied; treat :attr:`raw` as read-only, or use :meth:`to_dict` for a private copy.

    Constructing an event class directly (``ResponseDoneEvent(d)``) wraps ``d`` without any
    check; use :func:`~realtime.events.parse_event` for untrusted data.

    Attributes:
        _required: The top-level keys a frame of this class must have (``type`` included).
    """

    __slots__ = ("_raw",)

    _raw: dict[str, Any]
    _required: ClassVar[frozenset[str]] = frozenset({"type"})

    def __init__(self, raw: dict[str, Any]) -> None:
        """Wrap ``raw`` (not copied, not validated)."""
        _set_raw(self, raw)

    @property
    def raw(self) -> dict[str, Any]:
        """The frame's dict itself, not a copy. Do not mutate it."""
        return self._raw

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the frame, equal to the JSON the server sent."""
        copied: dict[str, Any] = _copy_json(self._raw)
        return copied

    if not TYPE_CHECKING:
        # Hidden from type checkers: a visible ``__setattr__`` would make mypy accept any
        # attribute assignment, instead of reporting read-only properties.

        def __setattr__(self, name: str, value: object) -> NoReturn:
            raise AttributeError(f"{type(self).__name__} is immutable")

        def __delattr__(self, name: str) -> NoReturn:
            raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerEventBase) or type(other) is not type(self):
            return NotImplemented
        return self._raw == other._raw

    # The wrapped dict is mutable, so events are unhashable like the dicts they wrap.
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[type[ServerEventBase], tuple[dict[str, Any]]]:
        # The default protocol restores slots with setattr, which the frozen class forbids.
        return (type(self), (self._raw,))

    def __repr__(self) -> str:
        names: tuple[str, ...] = getattr(type(self), "__match_args__", ())
        raw = self._raw
        shown = [f"{name}={_short_repr(raw[name])}" for name in names if name in raw]
        return f"{type(self).__name__}({', '.join(shown)})"


_set_raw = ServerEventBase.__dict__["_raw"].__set__


class UnknownEvent(ServerEventBase):
    """A server event whose ``type`` this library does not know.

    Newer API versions add event types; they arrive as :class:`UnknownEvent` instead of
    failing, with the whole payload kept in :attr:`raw`.
    """

    __slots__ = ()
    __match_args__ = ("type", "raw")

    @property
    def type(self) -> str:
        """The event's wire ``type``."""
        value: str = self._raw["type"]
        return value

    @property
    def event_id(self) -> str | None:
        """The event's ``event_id``, or ``None`` when absent."""
        value: str | None = self._raw.get("event_id")
        return value

    def __repr__(self) -> str:
        return f"UnknownEvent(type={self.type!r}, raw={_short_repr(self._raw)})"


def _short_repr(value: object) -> str:
    if isinstance(value, str) and len(value) > _REPR_LIMIT:
        return f"{value[:_REPR_LIMIT]!r}...<{len(value)} chars>"
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + "..."


def _copy_json(value: Any) -> Any:
    # Much faster than copy.deepcopy, and enough for what json.loads can produce.
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    if isinstance(value, (dict, list)):
        return copy.deepcopy(value)
    return value
