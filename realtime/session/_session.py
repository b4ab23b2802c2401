"""``realtime.Session``: a conversation over one connection, in a handful of high-level events.

The session is the connection's owner handler: it sees every event first, in wire order, keeps
the conversation history and the response state, runs function tools in its own task group (so
a slow tool never stalls event processing), and turns the 46 wire event types into the few
events of :data:`SessionEvent`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from .._config import ModelConfig
from .._errors import RealtimeError
from ..connection._connect import connect
from ..connection._connection import Connection
from ..connection._lifespan import Held, in_task_group
from ..events import Closed as WireClosed
from ..events import Event, ServerEventBase
from ..events import _client as ce
from ..transports._base import Transport
from ._mcp import ApproveMcp, McpApprovalRequest, approval_response, decide
from ._tools import Tool, format_output

__all__ = [
    "AudioDelta",
    "Closed",
    "SessionEnded",
    "Error",
    "Interrupted",
    "ResponseDone",
    "Session",
    "SessionError",
    "SessionEvent",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TranscriptDelta",
]

# Audio chunk for ``send_audio``: half a second of 24 kHz 16-bit mono, far below the server's
# per-event size limit and small enough to show upload progress.
AUDIO_CHUNK_BYTES = 24_000


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class SessionError(RealtimeError):
    """The session could not be set up (the server rejected the ``session.update``)."""


# -- high-level events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's text reply."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class AudioDelta:
    """A piece of the assistant's spoken reply, decoded (PCM bytes in the output format)."""

    response_id: str
    item_id: str
    pcm: bytes


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """A piece of a transcript: of the assistant's speech, or of the user's input audio.

    Attributes:
        role: ``"assistant"`` for the spoken reply, ``"user"`` for input transcription.
        response_id: The response (``None`` for user transcripts).
    """

    role: Literal["assistant", "user"]
    item_id: str
    delta: str
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The model called a function tool; the session is running it."""

    call_id: str
    name: str
    arguments: str
    response_id: str


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call was answered; ``output`` is what the model was sent.

    Attributes:
        error: Why the tool failed (unknown tool, bad arguments, exception, timeout), or
            ``None``; on failure ``output`` is a JSON object ``{"error": ...}``.
    """

    call_id: str
    name: str
    output: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """A response ended.

    Attributes:
        status: ``completed``, ``cancelled``, ``incomplete`` or ``failed``.
        text: The text (or audio transcript) of the response, concatenated.
        usage: The token usage the server reported (``{}`` when absent).
        output: The output items as the server reported them.
    """

    response_id: str
    status: str
    text: str
    usage: Mapping[str, Any]
    output: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The app interrupted the active response (:meth:`Session.interrupt`).

    Attributes:
        audio_end_ms: Where the assistant's audio item was truncated (what was played), or
            ``None`` when no audio needed truncating.
    """

    response_id: str | None
    item_id: str | None
    audio_end_ms: int | None


@dataclass(frozen=True, slots=True)
class Error:
    """The server reported an ``error`` event; the session goes on."""

    type: str
    code: str | None
    message: str
    param: str | None = None
    event_id: str | None = None

    def describe(self) -> str:
        """``code: message``, or the message alone when the server gave no code."""
        return f"{self.code}: {self.message}" if self.code else self.message


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The connection ended; no event follows.

    Also importable as ``realtime.Closed``, its first name; ``realtime.events.Closed`` is the
    connection's own (lower-level) event, with the messages that were never sent.
    """

    code: int
    reason: str
    clean: bool


Closed = SessionEnded
"""The first name of :class:`SessionEnded`, kept as an alias."""

SessionEvent = (
    TextDelta
    | AudioDelta
    | TranscriptDelta
    | ToolCallStarted
    | ToolCallFinished
    | ResponseDone
    | Interrupted
    | Error
    | SessionEnded
    | McpApprovalRequest
)
"""Any high-level event a :class:`Session` yields."""


@dataclass
class _AudioItem:
    response_id: str
    item_id: str
    content_index: int
    received_ms: float = 0.0
    played_ms: float = 0.0


@dataclass
class _ResponseCalls:
    pending: set[str] = field(default_factory=set)
    done: bool = False
    follow_up: bool = False


class Session(Held["Session"]):
    """A conversation with the model over one connection.

    Use as ``async with realtime.Session(...) as s:``; entering connects, sends the initial
    ``session.update`` and waits for ``session.updated``, and raises ``ConnError`` (the
    connection could not be opened), :class:`SessionError` (the server rejected the session
    configuration) or ``TimeoutError`` (no ``session.updated`` within the config's
    ``connect_timeout``). Then send with :meth:`send_text`,
    :meth:`send_audio`, :meth:`create_response`, and read high-level events with
    ``async for event in s``.

    Args:
        config: Where and how to connect (``ModelConfig()`` by default).
        model: The model (``gpt-realtime`` by default).
        instructions: The system instructions.
        tools: Function tools (see :func:`realtime.tool`); the session runs them when called.
        voice: The output voice.
        turn_detection: ``None`` disables server VAD; a dict configures it; left out, the
            server's default applies.
        output_modalities: ``["text"]`` or ``["audio"]``; the server's default when omitted.
        session: Any further ``session.update`` fields, merged last.
        transport: How to reach the server (``HttpxWsTransport`` by default).
        tool_timeout: Seconds a tool may run before the model is told it timed out.
        auto_respond_to_tools: After a response whose tool calls are all answered, ask for
            the next response.
        approve_mcp: Decides remote MCP tool calls that require approval: called (sync or
            async) with each :class:`McpApprovalRequest`, returns whether the call may run;
            the answer is sent like a tool's output. Without it, the requests are yielded
            and :meth:`approve_mcp` answers them. MCP tools themselves are declared in
            ``session={"tools": [{"type": "mcp", ...}]}``, alongside ``tools``.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        model: str | None = None,
        instructions: str | None = None,
        tools: Iterable[Tool] = (),
        voice: str | None = None,
        turn_detection: Mapping[str, Any] | None = UNSET,
        output_modalities: Sequence[str] | None = None,
        session: Mapping[str, Any] | None = None,
        transport: Transport | None = None,
        tool_timeout: float = 30.0,
        auto_respond_to_tools: bool = True,
        approve_mcp: ApproveMcp | None = None,
    ) -> None:
        self.config = config if config is not None else ModelConfig()
        self.model = model
        self.tools: dict[str, Tool] = {t.name: t for t in tools}
        self.tool_timeout = tool_timeout
        self.auto_respond_to_tools = auto_respond_to_tools
        self._approve_mcp = approve_mcp
        self._transport = transport
        self._session_config = self._build_config(
            instructions, voice, turn_detection, output_modalities, session
        )
        self._connection: Connection | None = None
        self._tg: TaskGroup | None = None
        self._tool_scopes: set[anyio.CancelScope] = set()
        # The events for ``async for``: a plain deque (unbounded, as the session never drops
        # one) and a wakeup; nothing to close, whether the session was ever opened or not.
        self._events: deque[SessionEvent] = deque()
        self._events_ended = False
        self._events_wakeup = anyio.Event()
        # Events set aside by ask(): they were there before its turn, the iterator yields them.
        self._backlog: deque[SessionEvent] = deque()
        self._ids = itertools.count(1)
        self._items: list[dict[str, Any]] = []
        self._updated = anyio.Event()
        self._update_event_id: str | None = None
        self._update_error: Error | None = None
        self._last_error: Error | None = None
        self.session_state: dict[str, Any] = {}
        # Response serialisation: at most one active response, the next ones wait here.
        self._busy = False
        self._create_event_id: str | None = None
        self._active_response_id: str | None = None
        self._queued: deque[dict[str, Any]] = deque()
        self._create_lock = anyio.Lock()
        self._response_text: dict[str, list[str]] = {}
        self._calls: dict[str, _ResponseCalls] = {}
        self._audio: _AudioItem | None = None
        self._pending_truncate: dict[str, Any] | None = None
        self._bytes_per_ms = 48.0
        self._closed: SessionEnded | None = None
        self._idle = anyio.Event()
        self._idle.set()

    @staticmethod
    def _build_config(
        instructions: str | None,
        voice: str | None,
        turn_detection: Mapping[str, Any] | None,
        output_modalities: Sequence[str] | None,
        extra: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        config: dict[str, Any] = {"type": "realtime"}
        if instructions is not None:
            config["instructions"] = instructions
        if output_modalities is not None:
            config["output_modalities"] = list(output_modalities)
        audio: dict[str, Any] = {}
        if voice is not None:
            audio["output"] = {"voice": voice}
        if turn_detection is not UNSET:
            audio["input"] = {
                "turn_detection": dict(turn_detection) if turn_detection is not None else None
            }
        if audio:
            config["audio"] = audio
        if extra:
            config.update(extra)
        return config

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The underlying connection.

        Raises:
            RuntimeError: The session is not open.
        """
        if self._connection is None:
            raise RuntimeError("the session is not open: use `async with Session(...)`")
        return self._connection

    def _hold(self) -> AsyncGenerator[Session, None]:
        # The connection and the tools run in this group; ``async with`` enters and leaves
        # it (see _lifespan.py).
        return in_task_group(self._open_in, self._shutdown)

    async def _open_in(self, tg: TaskGroup) -> Session:
        self._tg = tg
        self._connection = await connect(
            self.config,
            model=self.model,
            session=self._on_event,
            transport=self._transport,
            task_group=tg,
        )
        config = dict(self._session_config)
        if self.tools:
            # Alongside the session's own tools (remote MCP servers, say), not instead of them.
            given = list(config.get("tools") or ())
            config["tools"] = [*given, *(t.schema() for t in self.tools.values())]
        self._update_event_id = self._next_id("session_update")
        try:
            await self._connection.send_message(
                ce.session_update(config, event_id=self._update_event_id)
            )
        except RealtimeError:
            # Closed under us (a rejected key is an error event, then a close): the
            # Closed notification, and the error before it, say why.
            pass
        with anyio.fail_after(self.config.connect_timeout):
            await self._updated.wait()
        if self._update_error is not None:
            raise SessionError(
                f"the server rejected the session configuration: {self._update_error.describe()}"
            )
        if self._closed is not None and self._last_error is not None:
            raise SessionError(f"the server closed the session: {self._last_error.describe()}")
        if self._closed is not None:
            raise SessionError(
                f"the connection closed during setup ({self._closed.code} {self._closed.reason})"
            )
        return self

    async def aclose(self) -> None:
        """Close the connection and stop running tools. Idempotent; from any task.

        Leaving ``async with`` does the same.
        """
        await self._shutdown()

    async def close(self) -> None:
        """The same as :meth:`aclose`, kept as an alias (``Connection.close`` was the name a
        connection's ``aclose`` had first)."""
        await self.aclose()

    async def _shutdown(self) -> None:
        connection, self._connection = self._connection, None
        try:
            if connection is not None:
                await connection.aclose()
        finally:
            for scope in self._tool_scopes:
                scope.cancel()
            self._end_events()

    # -- iterating ---------------------------------------------------------------------------

    def __aiter__(self) -> Session:
        return self

    async def __anext__(self) -> SessionEvent:
        """The next high-level event; iteration ends after :class:`SessionEnded`."""
        if self._backlog:
            return self._backlog.popleft()
        event = await self._next_event()
        if event is None:
            raise StopAsyncIteration
        return event

    async def _next_event(self) -> SessionEvent | None:
        """The next event emitted, or ``None`` once the session ended and all were taken."""
        while not self._events:
            if self._events_ended:
                return None
            await self._events_wakeup.wait()
        return self._events.popleft()

    # -- state -------------------------------------------------------------------------------

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation items, in order, as the server describes them (copies).

        Kept in sync with ``conversation.item.added``/``done``/``deleted``/``truncated`` and
        input transcription events. A truncated audio part loses its ``transcript``, as on the
        server (which deletes the text the user did not hear).
        """
        return json.loads(json.dumps(self._items))  # type: ignore[no-any-return]

    @property
    def response_active(self) -> bool:
        """Whether the model's turn goes on: a response is active, requested and not yet done,
        or will be requested (the tools of a completed response still run, and the session
        asks for the follow-up when they are done; see ``auto_respond_to_tools``).

        So ``ResponseDone(...) if not s.response_active`` is the end of the turn, tool
        rounds included.
        """
        return (
            self._busy
            or bool(self._queued)
            or any(calls.follow_up for calls in self._calls.values())
        )

    async def wait_idle(self) -> None:
        """Wait until no response is active or queued and no tool call is unanswered."""
        await self._idle.wait()

    # -- sending -----------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def send_text(self, text: str, *, respond: bool = True) -> None:
        """Add a user text message to the conversation and ask for a response.

        Args:
            text: The user's message.
            respond: Ask for a response (:meth:`create_response`) after the message;
                ``False`` only adds the message.

        Raises:
            NotConnectedError: The connection is not open.
        """
        await self.connection.send_message(ce.user_message(text))
        if respond:
            await self.create_response()

    async def ask(self, text: str) -> ResponseDone:
        """Send ``text``, run the tools the model calls, and return the turn's final response.

        The turn's events (deltas, tool calls, the intermediate responses) are consumed here:
        iterating the session afterwards yields what comes after the turn. Events that were
        waiting to be read before the call are kept for the iterator. If a response is active
        when called, its end is awaited first, so the turn is only this question's.

        Do not iterate the session from another task while ``ask`` runs: both would take
        events from the same stream.

        Args:
            text: The user's message.

        Returns:
            The :class:`ResponseDone` of the last response of the turn (after any tool
            rounds): its ``text``, ``output``, ``usage`` and ``status``.

        Raises:
            NotConnectedError: The connection is not open.
            SessionError: The server refused the turn's response (an ``error`` event ended
                it), or the connection closed before the turn was over.
        """
        connection = self.connection
        await self.wait_idle()
        # What arrived before this turn stays for the iterator.
        self._backlog.extend(self._events)
        self._events.clear()
        await connection.send_message(ce.user_message(text))
        await self.create_response()
        while True:
            received = await self._next_event()
            event = received or self._closed or SessionEnded(1006, "the session was closed", False)
            if isinstance(event, SessionEnded):
                self._backlog.append(event)  # the iterator still ends with it
                why = f"{event.code} {event.reason}".strip()
                raise SessionError(f"the connection closed before the answer was complete ({why})")
            if isinstance(event, Error) and (event.event_id or "").startswith("response_create_"):
                # A refused response.create (ours: ask waited for idle, so any is this turn's):
                # no response.done follows it.
                raise SessionError(
                    f"the server refused the response: {event.code}: {event.message}"
                )
            if isinstance(event, ResponseDone) and not _follows_up(event, self):
                return event

    async def send_audio(
        self,
        pcm: bytes,
        *,
        commit: bool = False,
        respond: bool = True,
        chunk_size: int = AUDIO_CHUNK_BYTES,
        progress: Callable[[int, int], object] | None = None,
    ) -> None:
        """Append input audio (in the session's input format), in chunks.

        Args:
            pcm: The audio bytes (24 kHz 16-bit mono little-endian for ``audio/pcm``).
            commit: Commit the input buffer afterwards (needed without server VAD).
            respond: When committing without server VAD (the session's ``turn_detection``
                is ``null``), ask for a response afterwards; with server VAD the server
                decides (its ``create_response`` setting).
            chunk_size: Bytes per ``input_audio_buffer.append`` (rounded down to even).
            progress: Called with ``(bytes_sent, total)`` after each chunk.

        Raises:
            NotConnectedError: The connection is not open.
            ValueError: ``chunk_size`` is smaller than 2.
        """
        if chunk_size < 2:
            raise ValueError("chunk_size must be at least 2 bytes")
        chunk_size -= chunk_size % 2  # never split a 16-bit sample
        total = len(pcm)
        for start in range(0, total, chunk_size):
            piece = pcm[start : start + chunk_size]
            await self.connection.send_message(ce.input_audio_buffer_append(piece))
            if progress is not None:
                progress(min(start + chunk_size, total), total)
        if commit:
            await self.connection.send_message(ce.input_audio_buffer_commit())
            if respond and self._turn_detection() is None:
                await self.create_response()

    def _turn_detection(self) -> Any:
        audio_input = (self.session_state.get("audio") or {}).get("input") or {}
        return audio_input.get("turn_detection")

    async def create_response(self, response: Mapping[str, Any] | None = None) -> None:
        """Ask for a response; queued until the active response, if any, is done.

        Args:
            response: Per-response settings (``instructions``, ``output_modalities``...).

        Raises:
            NotConnectedError: The connection is not open.
        """
        async with self._create_lock:
            self._idle = anyio.Event() if self._idle.is_set() else self._idle
            message = dict(ce.response_create(response))
            if self._busy or self._queued:
                self._queued.append(message)
                return
            await self._send_create(message)

    async def _send_create(self, message: dict[str, Any]) -> None:
        self._busy = True
        self._create_event_id = message["event_id"] = self._next_id("response_create")
        self._active_response_id = None
        await self.connection.send_message(message)

    async def _next_queued(self) -> None:
        async with self._create_lock:
            if self._busy:
                return
            if self._queued:
                await self._send_create(self._queued.popleft())
            else:
                self._check_idle()

    def _check_idle(self) -> None:
        if not self._busy and not self._queued and not any(self._calls.values()):
            self._idle.set()

    def audio_played(self, ms: float) -> None:
        """Report that ``ms`` more milliseconds of the assistant's latest audio were played.

        :meth:`interrupt` truncates the audio item at the total played, so the model's memory
        of what it said matches what the user heard.
        """
        audio = self._audio
        if audio is not None:
            audio.played_ms = min(audio.received_ms, audio.played_ms + max(0.0, ms))

    async def interrupt(self) -> Interrupted:
        """Cancel the active response and truncate its audio at what was played.

        Returns:
            The :class:`Interrupted` event (also yielded by the iterator).

        Raises:
            NotConnectedError: The connection is not open.
        """
        messages: list[Mapping[str, Any]] = []
        response_id = self._active_response_id
        if self._busy:
            messages.append(dict(ce.response_cancel(response_id)))
        audio = self._audio
        end_ms: int | None = None
        item_id: str | None = None
        if audio is not None and audio.played_ms < audio.received_ms:
            end_ms = int(audio.played_ms)
            item_id = audio.item_id
            truncate = dict(
                ce.conversation_item_truncate(audio.item_id, audio.content_index, end_ms)
            )
            if self._busy:
                # Sent once the cancelled response is done: until then the item is still
                # being written, and the fake (like any careful server) may not yet hold the
                # audio part to cut.
                self._pending_truncate = truncate
            else:
                messages.append(truncate)
            # Whatever arrives later for this item was never played either.
            audio.received_ms = audio.played_ms
        if messages:
            await self.connection.send_message(messages)
        event = Interrupted(response_id or (audio.response_id if audio else None), item_id, end_ms)
        self._emit(event)
        return event

    # -- receiving ---------------------------------------------------------------------------

    def _emit(self, event: SessionEvent) -> None:
        if self._events_ended:
            return
        self._events.append(event)
        self._wake_iterator()

    def _end_events(self) -> None:
        self._events_ended = True
        self._wake_iterator()

    def _wake_iterator(self) -> None:
        wakeup, self._events_wakeup = self._events_wakeup, anyio.Event()
        wakeup.set()

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, WireClosed):
            self._closed = SessionEnded(event.code, event.reason, event.clean)
            self._updated.set()
            self._emit(self._closed)
            self._end_events()
            return
        if not isinstance(event, ServerEventBase):
            return
        raw = event.raw
        handler = _HANDLERS.get(raw.get("type", ""))
        if handler is not None:
            await handler(self, raw)

    async def _on_session(self, raw: dict[str, Any]) -> None:
        self.session_state = raw.get("session") or {}
        fmt = (self.session_state.get("audio") or {}).get("output", {}).get("format") or {}
        self._bytes_per_ms = 8.0 if fmt.get("type") in ("audio/pcmu", "audio/pcma") else 48.0
        if raw["type"] == "session.updated":
            self._updated.set()

    async def _on_error(self, raw: dict[str, Any]) -> None:
        details = raw.get("error") or {}
        error = Error(
            type=str(details.get("type", "")),
            code=details.get("code"),
            message=str(details.get("message", "")),
            param=details.get("param"),
            event_id=details.get("event_id"),
        )
        self._last_error = error
        caused_by = error.event_id
        if caused_by is not None and caused_by == self._update_event_id:
            self._update_error = error
            self._updated.set()
        if caused_by is not None and caused_by == self._create_event_id and self._busy:
            # The response was refused: no response.done will come for it.
            self._busy = False
            self._create_event_id = None
            await self._next_queued()
        self._emit(error)

    async def _on_response_created(self, raw: dict[str, Any]) -> None:
        # Also a response the server started itself (server VAD): it counts as active.
        self._busy = True
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._active_response_id = raw["response"]["id"]
        self._response_text[raw["response"]["id"]] = []

    async def _on_response_done(self, raw: dict[str, Any]) -> None:
        response = raw.get("response") or {}
        response_id = str(response.get("id", ""))
        status = str(response.get("status", ""))
        text = "".join(self._response_text.pop(response_id, []))
        self._busy = False
        self._active_response_id = None
        self._create_event_id = None
        calls = self._calls.get(response_id)
        if calls is not None:
            # Before the event goes out: response_active tells its reader whether the
            # turn goes on with a follow-up response.
            calls.done = True
            calls.follow_up = status == "completed" and self.auto_respond_to_tools
        self._emit(
            ResponseDone(
                response_id,
                status,
                text,
                response.get("usage") or {},
                tuple(response.get("output") or ()),
            )
        )
        truncate, self._pending_truncate = self._pending_truncate, None
        if truncate is not None:
            await self.connection.send_message(truncate)
        if calls is not None and not calls.pending:
            await self._tool_round_done(response_id)
            return
        await self._next_queued()

    async def _on_text_delta(self, raw: dict[str, Any]) -> None:
        self._response_text.setdefault(raw["response_id"], []).append(raw["delta"])
        self._emit(TextDelta(raw["response_id"], raw["item_id"], raw["delta"]))

    async def _on_transcript_delta(self, raw: dict[str, Any]) -> None:
        self._response_text.setdefault(raw["response_id"], []).append(raw["delta"])
        self._emit(TranscriptDelta("assistant", raw["item_id"], raw["delta"], raw["response_id"]))

    async def _on_audio_delta(self, raw: dict[str, Any]) -> None:
        try:
            pcm = base64.b64decode(raw["delta"])
        except (binascii.Error, TypeError, ValueError):
            return
        audio = self._audio
        if audio is None or audio.item_id != raw["item_id"]:
            audio = self._audio = _AudioItem(
                raw["response_id"], raw["item_id"], int(raw.get("content_index", 0))
            )
        audio.received_ms += len(pcm) / self._bytes_per_ms
        self._emit(AudioDelta(raw["response_id"], raw["item_id"], pcm))

    async def _on_user_transcript_delta(self, raw: dict[str, Any]) -> None:
        if raw.get("delta"):
            self._emit(TranscriptDelta("user", raw["item_id"], raw["delta"]))

    async def _on_user_transcript_done(self, raw: dict[str, Any]) -> None:
        item = self._find(raw["item_id"])
        if item is not None:
            parts = item.get("content") or []
            index = int(raw.get("content_index", 0))
            if 0 <= index < len(parts):
                parts[index]["transcript"] = raw.get("transcript")

    async def _on_function_call(self, raw: dict[str, Any]) -> None:
        call_id, name, response_id = raw["call_id"], raw["name"], raw["response_id"]
        self._calls.setdefault(response_id, _ResponseCalls()).pending.add(call_id)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._emit(ToolCallStarted(call_id, name, raw["arguments"], response_id))
        if self._tg is None:
            return
        self._tg.start_soon(self._run_tool, response_id, call_id, name, raw["arguments"])

    async def _run_tool(self, response_id: str, call_id: str, name: str, arguments: str) -> None:
        # Each tool in a scope of its own: closing the session cancels the tools, never the
        # group's scope, which also holds the caller's ``async with`` body.
        with anyio.CancelScope() as scope:
            self._tool_scopes.add(scope)
            try:
                await self._finish_tool(response_id, call_id, name, arguments)
            finally:
                self._tool_scopes.discard(scope)

    async def _finish_tool(self, response_id: str, call_id: str, name: str, arguments: str) -> None:
        output, error = await self._call_tool(name, arguments)
        try:
            await self.connection.send_message(ce.function_call_output(call_id, output))
        except (RealtimeError, RuntimeError):
            return  # the connection is gone; nobody is left to tell
        self._emit(ToolCallFinished(call_id, name, output, error))
        calls = self._calls.get(response_id)
        if calls is None:
            return
        calls.pending.discard(call_id)
        if calls.done and not calls.pending:
            await self._tool_round_done(response_id)

    async def _tool_round_done(self, response_id: str) -> None:
        if self._calls[response_id].follow_up:
            # Forgotten only once the follow-up is requested, so response_active never reads
            # False in between.
            try:
                await self.create_response()
            finally:
                self._calls.pop(response_id, None)
        else:
            del self._calls[response_id]
            await self._next_queued()

    async def _call_tool(self, name: str, arguments: str) -> tuple[str, str | None]:
        tool = self.tools.get(name)
        if tool is None:
            return _tool_error(f"unknown tool {name!r}")
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return _tool_error(f"arguments are not valid JSON: {exc}")
        if not isinstance(parsed, dict):
            return _tool_error("arguments must be a JSON object")
        try:
            with anyio.fail_after(self.tool_timeout):
                result = await tool.call(parsed)
        except TimeoutError:
            return _tool_error(f"tool {name!r} timed out after {self.tool_timeout} s")
        except Exception as exc:
            return _tool_error(f"{type(exc).__name__}: {exc}")
        return format_output(result), None

    # -- history -----------------------------------------------------------------------------

    def _find(self, item_id: str) -> dict[str, Any] | None:
        for item in self._items:
            if item.get("id") == item_id:
                return item
        return None

    async def _on_item_added(self, raw: dict[str, Any]) -> None:
        item = json.loads(json.dumps(raw["item"]))
        existing = self._find(item.get("id", ""))
        if existing is not None:
            existing.clear()
            existing.update(item)
            return
        previous = raw.get("previous_item_id")
        position = len(self._items)
        if previous is not None:
            for index, other in enumerate(self._items):
                if other.get("id") == previous:
                    position = index + 1
                    break
        self._items.insert(position, item)

    async def _on_item_deleted(self, raw: dict[str, Any]) -> None:
        self._items = [i for i in self._items if i.get("id") != raw["item_id"]]

    async def _on_item_truncated(self, raw: dict[str, Any]) -> None:
        item = self._find(raw["item_id"])
        if item is None:
            return
        parts = item.get("content") or []
        index = int(raw.get("content_index", 0))
        if 0 <= index < len(parts):
            parts[index]["transcript"] = ""

    # -- remote MCP tools --------------------------------------------------------------------

    async def approve_mcp(
        self, request: McpApprovalRequest | str, approve: bool = True, reason: str | None = None
    ) -> None:
        """Answer an MCP approval request, then ask for the next response (queued until the
        active one is done), as after a tool's output.

        Args:
            request: The :class:`McpApprovalRequest` (or its id).
            approve: Whether the call may run.
            reason: Why, for the model (optional).

        Raises:
            NotConnectedError: The connection is not open.
        """
        await self.connection.send_message(approval_response(request, approve, reason))
        await self.create_response()

    async def _on_output_item_done(self, raw: dict[str, Any]) -> None:
        item = raw.get("item") or {}
        if item.get("type") != "mcp_approval_request":
            return
        request = McpApprovalRequest.from_item(item)
        self._emit(request)
        if self._approve_mcp is None or self._tg is None:
            return
        # Decided like a tool call: the response's round ends once every call and approval
        # of it is answered, and the next response is asked for then.
        response_id = str(raw.get("response_id", ""))
        self._calls.setdefault(response_id, _ResponseCalls()).pending.add(request.id)
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        self._tg.start_soon(self._run_approval, response_id, request)

    async def _run_approval(self, response_id: str, request: McpApprovalRequest) -> None:
        with anyio.CancelScope() as scope:
            self._tool_scopes.add(scope)
            try:
                await self._finish_approval(response_id, request)
            finally:
                self._tool_scopes.discard(scope)

    async def _finish_approval(self, response_id: str, request: McpApprovalRequest) -> None:
        approve = self._approve_mcp
        reason: str | None = None
        try:
            verdict = await decide(approve, request) if approve is not None else False
        except Exception as exc:
            # A failing decision refuses: the call never runs on an error.
            verdict, reason = False, f"approve_mcp failed: {type(exc).__name__}: {exc}"
        try:
            await self.connection.send_message(approval_response(request, verdict, reason))
        except (RealtimeError, RuntimeError):
            return  # the connection is gone
        calls = self._calls.get(response_id)
        if calls is None:
            return
        calls.pending.discard(request.id)
        if calls.done and not calls.pending:
            await self._tool_round_done(response_id)


def _follows_up(done: ResponseDone, session: Session) -> bool:
    """Whether the session asks for another response after ``done`` (a tool round)."""
    return (
        done.status == "completed"
        and session.auto_respond_to_tools
        and any(
            item.get("type") == "function_call"
            # An MCP approval round follows up like a tool round when approvals are automatic.
            or (item.get("type") == "mcp_approval_request" and session._approve_mcp is not None)
            for item in done.output
        )
    )


def _tool_error(message: str) -> tuple[str, str]:
    return json.dumps({"error": message}), message


_Handler = Callable[[Session, dict[str, Any]], Any]
_HANDLERS: dict[str, _Handler] = {
    "session.created": Session._on_session,
    "session.updated": Session._on_session,
    "error": Session._on_error,
    "response.created": Session._on_response_created,
    "response.done": Session._on_response_done,
    "response.output_text.delta": Session._on_text_delta,
    "response.output_audio_transcript.delta": Session._on_transcript_delta,
    "response.output_audio.delta": Session._on_audio_delta,
    "response.function_call_arguments.done": Session._on_function_call,
    "response.output_item.done": Session._on_output_item_done,
    "conversation.item.input_audio_transcription.delta": Session._on_user_transcript_delta,
    "conversation.item.input_audio_transcription.completed": Session._on_user_transcript_done,
    "conversation.item.added": Session._on_item_added,
    "conversation.item.created": Session._on_item_added,
    "conversation.item.done": Session._on_item_added,
    "conversation.item.retrieved": Session._on_item_added,
    "conversation.item.deleted": Session._on_item_deleted,
    "conversation.item.truncated": Session._on_item_truncated,
}
