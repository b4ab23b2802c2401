"""A fake OpenAI Realtime server for tests: in memory, or served on 127.0.0.1 with an HTTP
control plane for test suites in any language.

See ``docs/testing-with-the-fake.md``.
"""

from __future__ import annotations

from ._clock import FakeClock
from ._headers import Headers
from ._responses import DEFAULT_TEXT
from ._script import Audio, FunctionCall, McpCall, Rule, Text
from ._server import FakeConnection, FakeRealtimeServer

__all__ = [
    "DEFAULT_TEXT",
    "Audio",
    "FakeClock",
    "FakeConnection",
    "FakeRealtimeServer",
    "FunctionCall",
    "Headers",
    "McpCall",
    "Rule",
    "Text",
]
