"""What a test scripts: the replies the next responses produce, transcripts of committed user
audio, and handlers that replace the default behaviour for a client event type."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import FakeConnection

__all__ = [
    "AudioReply",
    "FunctionCallReply",
    "Handler",
    "Reply",
    "Script",
    "TextReply",
    "Transcript",
    "TranscriptionFailure",
]

Handler = Callable[[dict[str, Any], "FakeConnection"], "Awaitable[None] | None"]
"""A handler for one client event type: ``handler(event, connection)``, sync or async."""


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + text[-1:]


@dataclass(frozen=True)
class TextReply:
    """The model says ``text``: ``output_text`` in a text session, spoken (synthesised audio
    with ``text`` as its transcript) in an audio session."""

    text: str
    stall_after: int | None = None

    def describe(self) -> str:
        return f"reply_text({_short(self.text)})"


@dataclass(frozen=True)
class AudioReply:
    """The model speaks ``pcm`` (bytes in the session's output format) with ``transcript``."""

    pcm: bytes
    transcript: str = ""
    stall_after: int | None = None

    def describe(self) -> str:
        return f"reply_audio(<{len(self.pcm)} bytes>, transcript={_short(self.transcript)})"


@dataclass(frozen=True)
class FunctionCallReply:
    """The model calls function ``name`` with ``arguments`` (a JSON string)."""

    name: str
    arguments: str
    call_id: str | None = None
    stall_after: int | None = None

    def describe(self) -> str:
        return f"reply_function_call({self.name!r}, {_short(self.arguments)})"


Reply = TextReply | AudioReply | FunctionCallReply


@dataclass(frozen=True)
class Transcript:
    """The transcript of the next committed user audio item."""

    text: str

    def describe(self) -> str:
        return f"transcribe({_short(self.text)})"


@dataclass(frozen=True)
class TranscriptionFailure:
    """The next committed user audio item fails transcription."""

    message: str = "Input transcription failed."
    code: str = "transcription_failed"

    def describe(self) -> str:
        return f"fail_transcription({_short(self.message)})"


def function_arguments(arguments: str | dict[str, Any]) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


@dataclass
class Script:
    """Queues consumed in order; what was consumed is kept for the strict-mode report."""

    replies: deque[Reply] = field(default_factory=deque)
    transcripts: deque[Transcript | TranscriptionFailure] = field(default_factory=deque)
    handlers: dict[str, Handler] = field(default_factory=dict)
    consumed: list[str] = field(default_factory=list)

    def next_reply(self) -> Reply | None:
        if not self.replies:
            return None
        reply = self.replies.popleft()
        self.consumed.append(reply.describe())
        return reply

    def next_transcript(self) -> Transcript | TranscriptionFailure | None:
        if not self.transcripts:
            return None
        step = self.transcripts.popleft()
        self.consumed.append(step.describe())
        return step

    def unconsumed(self) -> list[str]:
        return [step.describe() for step in (*self.replies, *self.transcripts)]

    def report(self) -> str | None:
        """A readable account of the steps never used, or ``None`` when all were."""
        left = self.unconsumed()
        if not left:
            return None
        lines = [
            f"FakeRealtimeServer: {len(left)} scripted step(s) never used "
            "(strict mode: every scripted step must be consumed by the test)."
        ]
        lines += [f"  + {step}  (used)" for step in self.consumed]
        lines += [f"  - {step}  (NEVER USED)" for step in left]
        lines.append(
            "Relax with @pytest.mark.fake_realtime(strict=False) or fake.check(strict=False)."
        )
        return "\n".join(lines)
