"""A typed client for the OpenAI Realtime API over WebSocket.

Quick use::

    async with realtime.connect(model="gpt-realtime") as conn:
        await conn.send_message({"type": "response.create"})
        async for event in conn:
            ...

The distribution is ``realtime-wire``; the import name is ``realtime``.
"""

from __future__ import annotations

from pathlib import Path as _Path

from . import events
from ._client_secrets import ClientSecret, create_client_secret
from ._config import DEFAULT_URL, ConnectRequest, ModelConfig
from ._conflict import warn_if_shared as _warn_if_shared
from ._errors import (
    BufferOverflowError,
    ConnError,
    FrameEncodeError,
    InvalidFrameError,
    LocalProtocolError,
    NotConnectedError,
    RealtimeError,
    SendQueueFullError,
)
from ._version import __version__
from .connection._connect import DEFAULT_MODEL, connect
from .connection._connection import Connection, Listener
from .connection._reconnect import ReconnectPolicy
from .protocol._frames import BinaryFrame, Frame, PingFrame, PongFrame, TextFrame
from .protocol._state import ConnectionState
from .session._mcp import McpApprovalRequest
from .session._session import (
    AudioDelta,
    Closed,
    Error,
    Interrupted,
    ResponseDone,
    Session,
    SessionEnded,
    SessionError,
    SessionEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptDelta,
)
from .session._tools import Tool, tool
from .transports._recording import Recorder, RecordingTransport

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "BinaryFrame",
    "BufferOverflowError",
    "ClientSecret",
    "ConnError",
    "ConnectRequest",
    "Connection",
    "ConnectionState",
    "Frame",
    "FrameEncodeError",
    "InvalidFrameError",
    "Listener",
    "LocalProtocolError",
    "McpApprovalRequest",
    "ModelConfig",
    "NotConnectedError",
    "PingFrame",
    "PongFrame",
    "RealtimeError",
    "ReconnectPolicy",
    "SendQueueFullError",
    "TextFrame",
    "Session",
    "SessionError",
    "SessionEvent",
    "TextDelta",
    "AudioDelta",
    "TranscriptDelta",
    "ToolCallStarted",
    "ToolCallFinished",
    "ResponseDone",
    "Interrupted",
    "Error",
    "Closed",
    "SessionEnded",
    "Tool",
    "tool",
    "Recorder",
    "RecordingTransport",
    "__version__",
    "connect",
    "create_client_secret",
    "events",
]

_warn_if_shared(_Path(__file__).parent)
