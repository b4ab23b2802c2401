"""What a test scripts, and how a response's answer is chosen.

The bottom layer of the fake: plain data, no I/O, no import of the connection or server.

- Outputs (:class:`Text`, :class:`Audio`, :class:`FunctionCall`) and a :class:`Reply` of one or
  several of them (one response carries them all);
- transcripts of committed user audio (:class:`Transcript`, :class:`TranscriptionFailure`);
- :class:`Rule`: an answer chosen by what the user said;
- :class:`Script`: the queues and rules of one fake, and :meth:`Script.choose`, which decides a
  response's answer: the queued replies first (in order), then the first matching rule (in the
  order added), then (``None``) the default reply.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ._mcp import McpServer

__all__ = [
    "Audio",
    "FunctionCall",
    "McpCall",
    "Output",
    "Reply",
    "Rule",
    "Script",
    "ScriptError",
    "Text",
    "Transcript",
    "TranscriptionFailure",
    "Translation",
    "function_arguments",
]


class ScriptError(AssertionError):
    """The script asked for something the app made impossible (a function it never declared),
    or a rule is unusable: a test failure, raised by the fake (never an ``assert``).

    Attributes:
        reason: A short account (at most 123 bytes in UTF-8), fit for a WebSocket close reason.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + text[-1:]


def function_arguments(arguments: str | dict[str, Any]) -> str:
    """``arguments`` as the JSON string the service streams."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


@dataclass(frozen=True)
class Text:
    """An output: the model says ``text`` (``output_text`` in a text session; spoken, with
    ``text`` as the transcript, in an audio session)."""

    text: str

    def describe(self) -> str:
        return f"Text({_short(self.text)})"


@dataclass(frozen=True)
class Audio:
    """An output: the model speaks ``pcm`` (bytes in the session's output format) with
    ``transcript``."""

    pcm: bytes
    transcript: str = ""

    def describe(self) -> str:
        return f"Audio(<{len(self.pcm)} bytes>, transcript={_short(self.transcript)})"


@dataclass(frozen=True, init=False)
class FunctionCall:
    """An output: the model calls function ``name`` with ``arguments`` (a JSON string, or a dict
    sent as JSON). The app must have declared the function."""

    name: str
    arguments: str
    call_id: str | None

    def __init__(
        self, name: str, arguments: str | dict[str, Any], call_id: str | None = None
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "arguments", function_arguments(arguments))
        object.__setattr__(self, "call_id", call_id)

    def describe(self) -> str:
        return f"FunctionCall({self.name!r}, {_short(self.arguments)})"


@dataclass(frozen=True, init=False)
class McpCall:
    """An output: the model calls tool ``name`` of the remote MCP server ``server_label`` with
    ``arguments`` (a JSON string, or a dict sent as JSON); the server answers ``output``, or
    fails with ``error`` (a message, or an error object of the SDK's ``mcp_call.error`` types).

    The app must have declared an ``mcp`` tool with that label, and the fake must play the
    server (``fake.mcp_server(...)``) listing that tool. When the tool's ``require_approval``
    asks for it, the response carries an ``mcp_approval_request`` instead, and the call (with
    the outputs after it) runs in the response that follows an approving
    ``mcp_approval_response``.
    """

    server_label: str
    name: str
    arguments: str
    output: str | None
    error: str | dict[str, Any] | None
    approval_request_id: str | None

    def __init__(
        self,
        server_label: str,
        name: str,
        arguments: str | dict[str, Any],
        *,
        output: str | None = None,
        error: str | dict[str, Any] | None = None,
        approval_request_id: str | None = None,
    ) -> None:
        if output is not None and error is not None:
            raise TypeError("an MCP call has an output or an error, not both")
        object.__setattr__(self, "server_label", server_label)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "arguments", function_arguments(arguments))
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "approval_request_id", approval_request_id)

    def error_object(self) -> dict[str, Any] | None:
        """The item's ``error``: a message becomes a ``tool_execution_error``."""
        if self.error is None or isinstance(self.error, dict):
            return self.error
        return {"type": "tool_execution_error", "message": self.error}

    def approved(self, approval_request_id: str) -> McpCall:
        """This call, run after the approval request ``approval_request_id``."""
        return McpCall(
            self.server_label,
            self.name,
            self.arguments,
            output=self.output,
            error=self.error,
            approval_request_id=approval_request_id,
        )

    def describe(self) -> str:
        return f"McpCall({self.server_label!r}, {self.name!r}, {_short(self.arguments)})"


Output = Text | Audio | FunctionCall | McpCall


@dataclass(frozen=True)
class Reply:
    """What one response streams: its outputs, in order.

    Attributes:
        outputs: One item per output, streamed in this order.
        stall_after: Stream this many deltas (counted over the whole response), then wait to be
            cancelled.
        given: The STEP this reply was read from (JSON), if it came from a file or HTTP.
    """

    outputs: tuple[Output, ...]
    stall_after: int | None = None
    given: Any = field(default=None, compare=False)

    def describe(self) -> str:
        stall = "" if self.stall_after is None else f", stall_after={self.stall_after}"
        if len(self.outputs) == 1:
            only = self.outputs[0]
            if isinstance(only, Text):
                return f"reply_text({_short(only.text)}{stall})"
            if isinstance(only, Audio):
                return (
                    f"reply_audio(<{len(only.pcm)} bytes>, "
                    f"transcript={_short(only.transcript)}{stall})"
                )
            if isinstance(only, FunctionCall):
                return f"reply_function_call({only.name!r}, {_short(only.arguments)}{stall})"
        return "reply(" + ", ".join(o.describe() for o in self.outputs) + stall + ")"

    def as_given(self) -> Any:
        """The reply as the test gave it: its STEP, or its description."""
        return self.given if self.given is not None else self.describe()


@dataclass(frozen=True)
class Transcript:
    """The transcript of the next committed user audio item."""

    text: str
    given: Any = field(default=None, compare=False)

    def describe(self) -> str:
        return f"transcribe({_short(self.text)})"

    def as_given(self) -> Any:
        return self.given if self.given is not None else self.describe()


@dataclass(frozen=True)
class Translation:
    """What the next stretch of speech on a translation session translates to."""

    output_transcript: str
    audio: bytes | None = None
    input_transcript: str | None = None

    def describe(self) -> str:
        return f"translate({_short(self.output_transcript)})"

    def as_given(self) -> Any:
        return self.describe()


@dataclass(frozen=True)
class TranscriptionFailure:
    """The next committed user audio item fails transcription."""

    message: str = "Input transcription failed."
    code: str = "transcription_failed"

    def describe(self) -> str:
        return f"fail_transcription({_short(self.message)})"

    def as_given(self) -> Any:
        return self.describe()


def _latest_user_text(context: list[dict[str, Any]]) -> str | None:
    """The text of the latest user message: its text parts, or its audio's transcript."""
    for item in reversed(context):
        if item.get("type") == "message" and item.get("role") == "user":
            parts = []
            for part in item.get("content") or []:
                if part.get("type") == "input_text":
                    parts.append(part.get("text") or "")
                elif part.get("type") == "input_audio":
                    parts.append(part.get("transcript") or "")
            return " ".join(p for p in parts if p)
    return None


def _output_of(context: list[dict[str, Any]]) -> str | None:
    """The name of the function whose output is the latest item, if it is one."""
    if not context or context[-1].get("type") != "function_call_output":
        return None
    call_id = context[-1].get("call_id")
    for item in reversed(context):
        if item.get("type") == "function_call" and item.get("call_id") == call_id:
            name: str | None = item.get("name")
            return name
    return None


_R = TypeVar("_R")


class Replies(Generic[_R]):
    """The one-output shortcuts of ``reply``, for the fake (which queues the reply) and for a
    rule (which answers its matches with it, and returns itself)."""

    def reply(self, *outputs: Output, stall_after: int | None = None) -> _R:
        raise NotImplementedError  # pragma: no cover - each subclass has its own

    def reply_text(self, text: str, *, stall_after: int | None = None) -> _R:
        """The model says ``text`` (spoken, with ``text`` as the transcript, in an audio
        session). ``stall_after=n`` streams ``n`` deltas, then waits to be cancelled."""
        return self.reply(Text(text), stall_after=stall_after)

    def reply_audio(
        self, pcm: bytes, transcript: str = "", *, stall_after: int | None = None
    ) -> _R:
        """The model speaks ``pcm`` (in the session's output format)."""
        return self.reply(Audio(bytes(pcm), transcript), stall_after=stall_after)

    def reply_function_call(
        self,
        name: str,
        arguments: str | dict[str, Any],
        *,
        call_id: str | None = None,
        stall_after: int | None = None,
    ) -> _R:
        """The model calls function ``name``. The app must have declared it."""
        return self.reply(FunctionCall(name, arguments, call_id), stall_after=stall_after)


class Rule(Replies["Rule"]):
    """An answer chosen by what the user said; made by ``fake.when(...)``.

    Give it its answer with :meth:`reply` (or :meth:`reply_text`, :meth:`reply_audio`,
    :meth:`reply_function_call`); each returns the rule.

    Attributes:
        contains: A case-insensitive substring of the latest user input (message text, or the
            transcript of its audio), or ``None``; the response must answer that input (the
            latest item is the user's message).
        tool_output_of: The name of a function: matches when the latest item is the output of a
            call of it; or ``None``.
        times: How many matches it answers (``None``: every one).
        used: How many it answered so far.
    """

    def __init__(
        self,
        *,
        contains: str | None = None,
        tool_output_of: str | None = None,
        times: int | None = None,
        given: Any = None,
    ) -> None:
        if contains is None and tool_output_of is None:
            raise TypeError("when() needs contains=... or tool_output_of=...")
        if times is not None and (isinstance(times, bool) or times < 1):
            raise ValueError(f"times must be a positive integer or None, not {times!r}")
        self.contains = contains
        self.tool_output_of = tool_output_of
        self.times = times
        self.used = 0
        self.answer: Reply | None = None
        self.given = given

    def reply(self, *outputs: Output, stall_after: int | None = None) -> Rule:
        """Answer a match with one response carrying ``outputs`` (see ``fake.reply``)."""
        self.answer = Reply(_outputs(outputs), stall_after)
        return self

    @property
    def live(self) -> bool:
        """Whether it may still answer."""
        return self.times is None or self.used < self.times

    def matches(self, context: list[dict[str, Any]]) -> bool:
        """Whether it answers a response to ``context``.

        A ``contains`` rule answers the user: the latest item must be a user message (else,
        after a tool's output say, the same question would be answered again and again). With
        ``tool_output_of`` the latest item must be that output, and ``contains`` (if given too)
        looks at the latest user message before it.
        """
        if self.tool_output_of is not None:
            if _output_of(context) != self.tool_output_of:
                return False
        elif (
            not context
            or context[-1].get("type") != "message"
            or (context[-1].get("role") != "user")
        ):
            return False
        if self.contains is not None:
            said = _latest_user_text(context)
            if said is None or self.contains.casefold() not in said.casefold():
                return False
        return True

    def describe(self) -> str:
        conditions = []
        if self.contains is not None:
            conditions.append(f"contains={_short(self.contains)}")
        if self.tool_output_of is not None:
            conditions.append(f"tool_output_of={self.tool_output_of!r}")
        if self.times is not None:
            conditions.append(f"times={self.times}")
        answer = "(no reply)" if self.answer is None else self.answer.describe()
        return f"when({', '.join(conditions)}).{answer}"

    def as_given(self) -> Any:
        return self.given if self.given is not None else self.describe()

    def __repr__(self) -> str:
        return f"<Rule {self.describe()} used {self.used}>"


def _outputs(outputs: tuple[Output, ...]) -> tuple[Output, ...]:
    if not outputs:
        raise TypeError("a reply needs at least one output: Text, Audio or FunctionCall")
    for output in outputs:
        if not isinstance(output, (Text, Audio, FunctionCall, McpCall)):
            raise TypeError(
                f"a reply's outputs are fakes.Text, fakes.Audio, fakes.FunctionCall or "
                "fakes.McpCall, "
                f"not {output!r}"
            )
    return tuple(outputs)


def reply_of(*outputs: Output, stall_after: int | None = None) -> Reply:
    """A :class:`Reply`, its outputs checked."""
    return Reply(_outputs(outputs), stall_after)


class _Described(Protocol):
    def describe(self) -> str: ...


_Step = TypeVar("_Step", bound=_Described)


@dataclass
class Script:
    """Queues consumed in order, and rules; what was used is kept for the strict-mode report."""

    replies: deque[Reply] = field(default_factory=deque)
    transcripts: deque[Transcript | TranscriptionFailure] = field(default_factory=deque)
    rules: list[Rule] = field(default_factory=list)
    consumed: list[str] = field(default_factory=list)
    translations: deque[Translation] = field(default_factory=deque)
    # The remote MCP servers the fake plays, by label (configuration: a reset keeps them).
    mcp_servers: dict[str, McpServer] = field(default_factory=dict)

    def _take(self, queue: deque[_Step]) -> _Step | None:
        if not queue:
            return None
        step = queue.popleft()
        self.consumed.append(step.describe())
        return step

    def next_reply(self) -> Reply | None:
        return self._take(self.replies)

    def choose(self, context: list[dict[str, Any]]) -> Reply | None:
        """The answer of a response whose input is ``context``: the next queued reply, else the
        first live rule that matches, else ``None`` (the default reply).

        Raises:
            ScriptError: The matching rule was never given a reply.
        """
        queued = self.next_reply()
        if queued is not None:
            return queued
        for rule in self.rules:
            if rule.live and rule.matches(context):
                if rule.answer is None:
                    raise ScriptError(
                        f"the rule {rule.describe()} matched, but it has no reply: give it one "
                        "with .reply(...), .reply_text(...), .reply_audio(...) or "
                        ".reply_function_call(...)",
                        "fake: a rule matched but has no reply (" + rule.describe()[:60] + ")",
                    )
                rule.used += 1
                if rule.times is not None and rule.used == rule.times:
                    self.consumed.append(rule.describe())
                return rule.answer
        return None

    def next_transcript(self) -> Transcript | TranscriptionFailure | None:
        return self._take(self.transcripts)

    def next_translation(self) -> Translation | None:
        return self._take(self.translations)

    def unused_rules(self) -> list[Rule]:
        """Rules whose ``times`` were not used up."""
        return [r for r in self.rules if r.times is not None and r.used < r.times]

    def unconsumed(self) -> list[str]:
        steps = [step.describe() for step in (*self.replies, *self.transcripts, *self.translations)]
        rules = [f"{r.describe()}  (used {r.used} of {r.times})" for r in self.unused_rules()]
        return steps + rules

    def unused_as_given(self) -> list[Any]:
        """Each unused step or rule as the test gave it (its STEP, or its description)."""
        return [s.as_given() for s in (*self.replies, *self.transcripts, *self.translations)] + [
            r.as_given() for r in self.unused_rules()
        ]

    def clear(self) -> None:
        self.replies.clear()
        self.transcripts.clear()
        self.translations.clear()
        self.rules.clear()
        self.consumed.clear()

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
