"""The raw WebSocket frames an app may send with ``Connection.send_frame``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BinaryFrame", "Frame", "PingFrame", "PongFrame", "TextFrame"]


@dataclass(frozen=True, slots=True)
class TextFrame:
    """A text frame; the Realtime protocol carries one JSON event per text frame."""

    text: str


@dataclass(frozen=True, slots=True)
class BinaryFrame:
    """A binary frame. The Realtime service does not use them; sent as given."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PingFrame:
    """A ping control frame (payload at most 125 bytes)."""

    data: bytes = b""


@dataclass(frozen=True, slots=True)
class PongFrame:
    """An unsolicited pong control frame (payload at most 125 bytes)."""

    data: bytes = b""


Frame = TextFrame | BinaryFrame | PingFrame | PongFrame
