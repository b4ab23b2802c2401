# PLACEHOLDER: replaced by the generated events module (branch `events`).
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from .._errors import InvalidFrameError


class ServerEventBase:
    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        object.__setattr__(self, "_raw", raw)

    @property
    def type(self) -> str:
        return self._raw["type"]

    @property
    def event_id(self) -> Any:
        return self._raw.get("event_id")

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._raw))

    def __eq__(self, o: object) -> bool:
        return type(o) is type(self) and o._raw == self._raw  # type: ignore

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._raw!r})"


class UnknownEvent(ServerEventBase):
    pass


class SessionCreatedEvent(ServerEventBase):
    pass


class ResponseOutputTextDeltaEvent(ServerEventBase):
    @property
    def delta(self) -> str:
        return self._raw["delta"]


EVENT_TYPES = {
    "session.created": SessionCreatedEvent,
    "response.output_text.delta": ResponseOutputTextDeltaEvent,
}
ServerEvent = SessionCreatedEvent | ResponseOutputTextDeltaEvent


def _reject(c: str) -> Any:
    raise ValueError(c)


def parse_event(obj: Any) -> Any:
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise InvalidFrameError("not an event", frame=obj)
    return EVENT_TYPES.get(obj["type"], UnknownEvent)(obj)


def parse_text(text: str) -> Any:
    try:
        obj = json.loads(text, parse_constant=_reject)
    except ValueError as e:
        raise InvalidFrameError(f"invalid JSON: {e}", frame=text) from None
    return parse_event(obj)


@dataclass(frozen=True, slots=True)
class Connected:
    url: str
    type: ClassVar[str] = "realtime.connected"


@dataclass(frozen=True, slots=True)
class Closed:
    code: int
    reason: str
    clean: bool
    unsent: tuple[dict[str, Any], ...] = ()
    type: ClassVar[str] = "realtime.closed"


@dataclass(frozen=True, slots=True)
class FrameError:
    error: InvalidFrameError
    raw: str | bytes
    type: ClassVar[str] = "realtime.frame_error"


@dataclass(frozen=True, slots=True)
class Reconnecting:
    attempt: int
    delay: float
    close_code: int | None
    type: ClassVar[str] = "realtime.reconnecting"


@dataclass(frozen=True, slots=True)
class Reconnected:
    attempt: int
    type: ClassVar[str] = "realtime.reconnected"


Event = Any
