"""The fake Realtime server: the public object tests hold, and how it serves one connection.

One :class:`FakeRealtimeServer` serves any number of connections, in memory (through
``realtime.transports.MemoryTransport(fake)``) or on loopback (:meth:`FakeRealtimeServer.serve`).
Each connection is served by :meth:`FakeRealtimeServer.handle` against a
:class:`~realtime.transports.ServerSocket`, so the behaviour lives in one place whatever carries
the bytes. The behaviour itself lives in ``_behaviour`` (client events), ``_session``,
``_conversation``, ``_audio``, ``_responses`` and ``_script``.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from ssl import SSLContext
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

import anyio
from anyio.abc import TaskGroup

from realtime._compat import BaseExceptionGroup
from realtime.transports import Close, ServerSocket

from ._audio import InputAudio
from ._behaviour import Behaviour
from ._clock import FakeClock
from ._conversation import Conversation
from ._errors import error_event
from ._headers import Headers
from ._ids import IdFactory
from ._responses import Pacing, ResponseRun
from ._script import (
    AudioReply,
    FunctionCallReply,
    Handler,
    Script,
    TextReply,
    Transcript,
    TranscriptionFailure,
    function_arguments,
)
from ._session import default_session, default_transcription_session
from ._threaded import Home, run_at_home

if TYPE_CHECKING:
    from ._replay import ReplayServer

__all__ = ["FakeConnection", "FakeRealtimeServer"]

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
REALTIME_PATH = "/v1/realtime"
MISSING_AUTH = "Missing bearer or basic authentication in header"
SESSION_EXPIRED = "Your session hit the maximum duration of 60 minutes."
# Events that carry no ``event_id`` in the official types.
_NO_EVENT_ID = frozenset({"input_audio_buffer.dtmf_event_received"})


def _masked(key: str) -> str:
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * len(key)


class FakeConnection:
    """One client connection to the fake, as tests and ``on`` handlers see it.

    Attributes:
        server: The :class:`FakeRealtimeServer` it belongs to.
        path: The request path.
        query: The query parameters.
        headers: The handshake headers (case-insensitive).
        received: The client events received on this connection, in order, as dicts.
        sent: The server events sent on this connection, in order, as dicts.
        closed: The close code and reason once the connection ended, else ``None``.
        session: The session object, as the last ``session.updated`` showed it.
        conversation: The conversation's items (``conversation.items``).
    """

    def __init__(self, server: FakeRealtimeServer, socket: ServerSocket) -> None:
        self.server = server
        self.path = socket.path
        self.query = dict(socket.query)
        self.headers = Headers(socket.headers)
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.ids = server.ids
        now = server.clock()
        if self.query.get("intent") == "transcription":
            self.session = default_transcription_session(self.ids.session(), now)
        else:
            self.session = default_session(self.ids.session(), self.model or "gpt-realtime", now)
        self.conversation = Conversation(self.ids.conversation())
        self.audio = InputAudio()
        self.runs: list[ResponseRun] = []
        self._behaviour = Behaviour(self)
        self._socket = socket
        # fast_acquire: no yield when free, so that a burst of events leaves in one write.
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._close_sent = False
        self._tg: TaskGroup | None = None

    @property
    def model(self) -> str | None:
        """The ``model`` query parameter, if any."""
        return self.query.get("model")

    @property
    def active_response(self) -> ResponseRun | None:
        """The response streaming into the conversation, if any (out-of-band ones aside)."""
        for run in self.runs:
            if run.in_conversation and not run.done.is_set():
                return run
        return None

    # -- sending -----------------------------------------------------------------------------

    async def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event, giving it an ``event_id`` if it has none; return it as sent.

        Waits ``server.latency`` seconds first (latency injection).
        """
        if "event_id" not in event and event.get("type") not in _NO_EVENT_ID:
            event = {"type": event["type"], "event_id": self.ids.event(), **event}
        if self.server.latency > 0:
            await anyio.sleep(self.server.latency)
        if self.closed is not None or self._close_sent:
            return event
        async with self._send_lock:
            await self._socket.send_text(_COMPACT.encode(event))
        self.sent.append(event)
        self.server.sent.append(event)
        return event

    async def send_text(self, text: str) -> None:
        """Send a raw text frame, as is."""
        if self.closed is None and not self._close_sent:
            async with self._send_lock:
                await self._socket.send_text(text)

    async def send_dtmf(self, event: str) -> dict[str, Any]:
        """Send ``input_audio_buffer.dtmf_event_received`` for a key press (SIP calls)."""
        return await self.send_event(
            {
                "type": "input_audio_buffer.dtmf_event_received",
                "event": event,
                "received_at": int(self.server.clock()),
            }
        )

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason``."""
        self._close_sent = True
        await self._socket.close(code, reason)

    async def abort(self) -> None:
        """Drop the connection without a close frame."""
        self.closed = (1006, "aborted by the fake")
        await self._socket.abort()

    async def handle_default(self, event: dict[str, Any]) -> None:
        """Answer ``event`` as the fake does by default (for use inside ``on`` handlers)."""
        await self._behaviour.dispatch(event)

    # -- running -----------------------------------------------------------------------------

    def start_run(self, run: ResponseRun) -> None:
        assert self._tg is not None
        self.runs.append(run)
        self._tg.start_soon(self._stream, run)

    async def _stream(self, run: ResponseRun) -> None:
        await run.run()
        self.runs.remove(run)
        self.audio.idle_since_ms = self.audio.stream_ms(self.session["audio"]["input"]["format"])
        await self.send_event(self.server.rate_limits(run))

    async def _expire_after(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        if self.closed is None and not self._close_sent:
            await self.send_event(
                error_event("invalid_request_error", "session_expired", SESSION_EXPIRED)
            )
            await self.close(1001, SESSION_EXPIRED)

    def schedule_expiry(self, seconds: float) -> None:
        if self._tg is not None:
            self._tg.start_soon(self._expire_after, seconds)

    async def serve(self, tg: TaskGroup) -> None:
        self._tg = tg
        if self.server.session_limit is not None:
            self.schedule_expiry(self.server.session_limit)
        if not await self._authenticate():
            await self._drain()
            return
        await self.send_event({"type": "session.created", "session": self.session})
        while True:
            message = await self._socket.receive()
            if isinstance(message, Close):
                if self.closed is None:
                    self.closed = (message.code, message.reason)
                return
            if self._close_sent:
                continue
            await self._on_message(message)

    async def _drain(self) -> None:
        while True:
            message = await self._socket.receive()
            if isinstance(message, Close):
                if self.closed is None:
                    self.closed = (message.code, message.reason)
                return

    async def _authenticate(self) -> bool:
        authorization = self.headers.get("authorization", "").strip()
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "basic") or not key.strip():
            # As reported: the upgrade succeeds, then an error. Closing afterwards (3000) is
            # assumed, as for an invalid key.
            await self.send_event(error_event("invalid_request_error", None, MISSING_AUTH))
            await self.close(3000, "invalid_request_error")
            return False
        key = key.strip()
        expected = self.server.api_key
        if expected is not None and key != expected:
            await self.send_event(
                error_event(
                    "invalid_request_error",
                    "invalid_api_key",
                    f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                )
            )
            await self.close(3000, "invalid_request_error.invalid_api_key")
            return False
        return True

    async def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await self.send_event(
                error_event(
                    "invalid_request_error",
                    "invalid_value",
                    "Binary frames are not supported; send JSON events as text frames.",
                )
            )
            return
        try:
            event = json.loads(message)
        except RecursionError:
            # Nested deeper than the parser's stack (a 100k-deep array): the service answers
            # such a message with an error and keeps the session.
            await self.send_event(
                error_event(
                    "invalid_request_error",
                    "invalid_json",
                    "The server could not parse the JSON of the event: it is nested too deeply.",
                )
            )
            return
        except ValueError as exc:
            await self.send_event(
                error_event(
                    "invalid_request_error",
                    "invalid_json",
                    f"The server could not parse the JSON of the event: {exc}.",
                )
            )
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            client_id = event.get("event_id") if isinstance(event, dict) else None
            await self.send_event(
                error_event(
                    "invalid_request_error",
                    "missing_required_parameter",
                    "Missing required parameter: 'type'.",
                    param="type",
                    event_id=client_id if isinstance(client_id, str) else None,
                )
            )
            return
        self.received.append(event)
        self.server._note_received(event)
        handler = self.server.script.handlers.get(event["type"])
        if handler is None:
            await self._behaviour.dispatch(event)
            return
        result = handler(event, self)
        if inspect.isawaitable(result):
            await result


class FakeRealtimeServer:
    """A fake of the OpenAI Realtime service (GA protocol), for tests.

    Args:
        api_key: Accept only this key (``Authorization: Bearer <key>``); by default any
            non-empty key is accepted.
        clock: Wall-clock time in Unix seconds, for ``expires_at`` and other timestamps;
            a :class:`~fakes.FakeClock` (fixed until advanced) by default.
        delta_delay: Seconds to wait before each delta (default: as fast as possible).
        realtime_audio: Pace audio deltas in real time (each waits as long as its audio lasts).
        latency: Seconds to wait before each server event (latency injection).

    Attributes:
        received: Every client event received, across connections, in order, as dicts.
        connections: Every connection accepted, in order.
        sent: Every server event sent, across connections, in order.
        failures: Exceptions raised by server-side test code (``on`` handlers, script
            assertions); :meth:`check` re-raises the first.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] | None = None,
        delta_delay: float = 0.0,
        realtime_audio: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.clock: Callable[[], float] = clock if clock is not None else FakeClock()
        self.pacing = Pacing(delta_delay=delta_delay, realtime_audio=realtime_audio)
        self.latency = latency
        self.received: list[dict[str, Any]] = []
        self.connections: list[FakeConnection] = []
        self.sent: list[dict[str, Any]] = []
        self.failures: list[BaseException] = []
        self.ids = IdFactory()
        self.script = Script()
        self.session_limit: float | None = None
        self._tokens_used = 0
        self._received_changed = anyio.Event()
        # Set while served from a background thread (fakes._threaded): the loop that owns the
        # fake's state; async methods called from elsewhere run there.
        self._home: Home | None = None

    def _away(self) -> Home | None:
        """The fake's home thread, if it has one and this is another thread."""
        home = self._home
        return None if home is None or home.is_current() else home

    def _note_received(self, event: dict[str, Any]) -> None:
        self.received.append(event)
        changed, self._received_changed = self._received_changed, anyio.Event()
        changed.set()

    async def wait_received(
        self, count: int = 1, *, event_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` client events (of ``event_type``, if given) were received in
        all, across connections. Bound it with ``anyio.fail_after``.

        Returns:
            The matching received events, in order.
        """
        if (home := self._away()) is not None:
            return await run_at_home(
                home, functools.partial(self.wait_received, count, event_type=event_type)
            )
        while True:
            matching = [e for e in self.received if event_type is None or e["type"] == event_type]
            if len(matching) >= count:
                return matching
            await self._received_changed.wait()

    @property
    def live_connections(self) -> list[FakeConnection]:
        """The connections that have not ended."""
        return [c for c in self.connections if c.closed is None]

    # -- serving -----------------------------------------------------------------------------

    async def handle(self, socket: ServerSocket) -> None:
        """Serve one connection until it ends (transports call this once per connection)."""
        if socket.path.rstrip("/") != REALTIME_PATH:
            body = {
                "error": {
                    "message": f"Invalid URL (GET {socket.path})",
                    "type": "invalid_request_error",
                    "code": None,
                    "param": None,
                }
            }
            await socket.reject(404, json.dumps(body).encode())
            return
        await socket.accept()
        connection = FakeConnection(self, socket)
        self.connections.append(connection)
        try:
            async with anyio.create_task_group() as tg:
                await connection.serve(tg)
                tg.cancel_scope.cancel()
        except Exception as exc:  # recorded, re-raised by check()
            self._record_failure(exc)
            connection.closed = (1011, "fake server failure")
            with anyio.CancelScope(shield=True):
                await socket.close(1011, f"fake server failure: {type(exc).__name__}")

    def _record_failure(self, exc: BaseException) -> None:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        self.failures.append(exc)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl: SSLContext | None = None
    ) -> AbstractAsyncContextManager[str]:
        """Serve this fake on a real socket; the context yields its ``ws://`` (or ``wss://``) URL.

        The URL ends in ``/v1/realtime``, so the official SDK reaches it with
        ``websocket_base_url=url.removesuffix("/realtime")``.
        """
        from ._serve import serve

        return serve(self.handle, host=host, port=port, ssl=ssl)

    @staticmethod
    def replay(path: str | Path, *, pace: str = "instant") -> ReplayServer:
        """A server that answers with the recorded server events of ``path`` (see ``_replay``).

        Raises:
            OSError: The file cannot be read.
            ValueError: The file is not a recording, or ``pace`` is unknown.
        """
        from ._replay import ReplayServer, load_recording

        return ReplayServer(load_recording(path), pace=pace)

    # -- checking ----------------------------------------------------------------------------

    def check(self, *, strict: bool = True) -> None:
        """Raise what went wrong on the server side during the test.

        Re-raises the first exception raised by server-side test code (an ``on`` handler, a
        script assertion); with ``strict``, raises ``AssertionError`` listing the scripted steps
        never used.
        """
        if self.failures:
            failure = self.failures[0]
            if len(self.failures) > 1 and sys.version_info >= (3, 11):
                failure.add_note(f"({len(self.failures) - 1} more server-side failure(s))")
            raise failure
        if strict:
            report = self.script.report()
            if report is not None:
                raise AssertionError(report)

    async def __aenter__(self) -> FakeRealtimeServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.check()

    # -- scripting ---------------------------------------------------------------------------

    def reply_text(self, text: str, *, stall_after: int | None = None) -> None:
        """Queue a reply: the model says ``text`` (spoken, with ``text`` as the transcript, in an
        audio session). ``stall_after=n`` streams ``n`` deltas, then waits to be cancelled."""
        self.script.replies.append(TextReply(text, stall_after))

    def reply_audio(
        self, pcm: bytes, transcript: str = "", *, stall_after: int | None = None
    ) -> None:
        """Queue a reply: the model speaks ``pcm`` (in the session's output format)."""
        self.script.replies.append(AudioReply(bytes(pcm), transcript, stall_after))

    def reply_function_call(
        self,
        name: str,
        arguments: str | dict[str, Any],
        *,
        call_id: str | None = None,
        stall_after: int | None = None,
    ) -> None:
        """Queue a reply: the model calls function ``name``. The app must have declared it."""
        self.script.replies.append(
            FunctionCallReply(name, function_arguments(arguments), call_id, stall_after)
        )

    def transcribe(self, text: str) -> None:
        """Queue the transcript of the next committed user audio (transcription on)."""
        self.script.transcripts.append(Transcript(text))

    def fail_transcription(
        self, message: str = "Input transcription failed.", code: str = "transcription_failed"
    ) -> None:
        """Make the transcription of the next committed user audio fail."""
        self.script.transcripts.append(TranscriptionFailure(message, code))

    @overload
    def on(self, event_type: str, handler: Handler) -> Handler: ...
    @overload
    def on(self, event_type: str, handler: None = None) -> Callable[[Handler], Handler]: ...

    def on(
        self, event_type: str, handler: Handler | None = None
    ) -> Handler | Callable[[Handler], Handler]:
        """Handle client events of ``event_type`` with ``handler(event, connection)``.

        The handler replaces the default answer (it can still call
        ``await connection.handle_default(event)``); it may be sync or async, may send events
        with ``await connection.send_event({...})``, and may raise (an ``assert``) to fail the
        test: the exception is re-raised by :meth:`check` and the connection closes with 1011.
        Usable as a decorator: ``@fake.on("response.create")``.
        """

        def register(function: Handler) -> Handler:
            self.script.handlers[event_type] = function
            return function

        return register if handler is None else register(handler)

    # -- faults ------------------------------------------------------------------------------

    async def send_raw(self, text: str) -> None:
        """Push a raw text frame, as is, to every live connection."""
        if (home := self._away()) is not None:
            return await run_at_home(home, self.send_raw, text)
        for connection in self.live_connections:
            await connection.send_text(text)

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send a server event to every live connection (``event_id`` added per connection)."""
        if (home := self._away()) is not None:
            return await run_at_home(home, self.send_event, event)
        for connection in self.live_connections:
            await connection.send_event(dict(event))

    async def close_connections(self, code: int = 1000, reason: str = "") -> None:
        """Close every live connection with ``code`` and ``reason``."""
        if (home := self._away()) is not None:
            return await run_at_home(home, self.close_connections, code, reason)
        for connection in self.live_connections:
            await connection.close(code, reason)

    async def drop_connections(self) -> None:
        """Drop every live connection without a close frame (clients see 1006)."""
        if (home := self._away()) is not None:
            return await run_at_home(home, self.drop_connections)
        for connection in self.live_connections:
            await connection.abort()

    def expire_sessions_after(self, seconds: float) -> None:
        """End sessions like the real service at its maximum duration: each live connection
        ``seconds`` from now, each later one ``seconds`` after it opens, gets an ``error``
        (``session_expired``) and a close 1001."""
        if (home := self._away()) is not None:
            home.portal.call(self.expire_sessions_after, seconds)
            return
        self.session_limit = seconds
        for connection in self.live_connections:
            connection.schedule_expiry(seconds)

    # -- bookkeeping -------------------------------------------------------------------------

    def rate_limits(self, run: ResponseRun) -> dict[str, Any]:
        usage = run.usage()
        self._tokens_used += int(usage["total_tokens"])
        return {
            "type": "rate_limits.updated",
            "rate_limits": [
                {
                    "name": "tokens",
                    "limit": 15_000_000,
                    "remaining": 15_000_000 - self._tokens_used,
                    "reset_seconds": 0.002,
                }
            ],
        }
