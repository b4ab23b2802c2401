"""A fake OpenAI Realtime server for tests: in memory, or served on 127.0.0.1."""

from __future__ import annotations

from ._headers import Headers
from ._server import FakeConnection, FakeRealtimeServer

__all__ = ["FakeConnection", "FakeRealtimeServer", "Headers"]
