"""Notifications about the connection itself, delivered alongside the server's events.

They are not wire events: the server never sends them; the client reports them so that one
``match`` (or one listener) can see both what the server said and what happened to the socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from realtime._errors import InvalidFrameError

__all__ = [
    "Closed",
    "Connected",
    "ConnectionEvent",
    "FrameError",
    "Reconnected",
    "Reconnecting",
]


@dataclass(frozen=True, slots=True)
class Connected:
    """The WebSocket handshake succeeded.

    Attributes:
        url: The URL connected to (without credentials).
    """

    type: ClassVar[Literal["realtime.connected"]] = "realtime.connected"
    url: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is closed, for good (no reconnect follows).

    Attributes:
        code: The WebSocket close code (1006 when the connection dropped without a close frame).
        reason: The close reason the peer gave, or ``""``.
        clean: Whether the closing handshake completed.
        unsent: Messages (as dicts) that the app asked to send and that were not sent.
        server_error: The ``error`` object of the last ``error`` event the server sent on
            this connection, if any: why the server closed, when it said so (a refused key,
            the retired beta shape, ...).
    """

    type: ClassVar[Literal["realtime.closed"]] = "realtime.closed"
    code: int
    reason: str
    clean: bool
    unsent: tuple[dict[str, Any], ...] = ()
    server_error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FrameError:
    """A received frame was not a valid event; the connection stays open.

    Attributes:
        error: Why the frame was rejected.
        raw: The frame as received.
    """

    type: ClassVar[Literal["realtime.frame_error"]] = "realtime.frame_error"
    error: InvalidFrameError
    raw: str | bytes


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection dropped and a reconnect attempt is scheduled.

    A reconnect starts a new server session: the conversation is not carried over.

    Attributes:
        attempt: The attempt number, from 1.
        delay: Seconds until the attempt.
        close_code: The close code that ended the previous connection, if there was one.
    """

    type: ClassVar[Literal["realtime.reconnecting"]] = "realtime.reconnecting"
    attempt: int
    delay: float
    close_code: int | None


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A reconnect attempt succeeded.

    Attributes:
        attempt: The attempt number that succeeded.
    """

    type: ClassVar[Literal["realtime.reconnected"]] = "realtime.reconnected"
    attempt: int


ConnectionEvent = Connected | Closed | FrameError | Reconnecting | Reconnected
"""Any of the connection-level notifications."""
