"""The fake Realtime server: the public object tests hold, and how it serves one connection.

One :class:`FakeRealtimeServer` serves any number of connections, in memory (through
``realtime.transports.MemoryTransport(fake)``) or on a socket (:meth:`FakeRealtimeServer.serve`,
with the HTTP control plane of ``_control`` on the same port). Each connection is served by
:meth:`FakeRealtimeServer.handle` against a :class:`~realtime.transports.ServerSocket`, so the
behaviour lives in one place whatever carries the bytes.

The top layer of the fake: the engine below (``_behaviour``, ``_responses``) and the steps at the
bottom (``_script``, ``_steps``) see a connection only through small protocols (``Host``,
``ResponseHost``), and the control plane sees the server as a ``ControlledFake``; nothing below
imports this module.
"""

from __future__ import annotations

import functools
import heapq
import inspect
import ipaddress
import itertools
import json
import sys
from collections import deque
from collections.abc import Awaitable, Callable
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
from ._control import CONTROL_PREFIX, ControlPlane, json_response
from ._conversation import Conversation
from ._errors import error_event
from ._headers import Headers
from ._ids import IdFactory
from ._mcp import McpServer, check_server_tools
from ._responses import Pacing, ResponseRun
from ._script import (
    Output,
    Replies,
    Rule,
    Script,
    ScriptError,
    Transcript,
    TranscriptionFailure,
    Translation,
    reply_of,
)
from ._secrets import REALTIME_SECRETS_PATH, TRANSLATION_SECRETS_PATH, ClientSecrets
from ._serve import HttpRequest, HttpResponse
from ._session import default_session, default_transcription_session
from ._threaded import Home, run_at_home
from ._translating import TranslationBehaviour
from ._translation import default_translation_session

if TYPE_CHECKING:
    from ._replay import ReplayServer

__all__ = ["FakeConnection", "FakeRealtimeServer", "Handler"]

Handler = Callable[[dict[str, Any], "FakeConnection"], Awaitable[None] | None]
"""A handler for one client event type: ``handler(event, connection)``, sync or async."""

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DECODE = json.JSONDecoder().decode
REALTIME_PATH = "/v1/realtime"
AZURE_PATH = "/openai/v1/realtime"
TRANSLATION_PATH = "/v1/realtime/translations"
DEFAULT_TRANSLATION_MODEL = "gpt-realtime-translate"
MISSING_AUTH = "Missing bearer or basic authentication in header"
BETA_SHAPE_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)
SESSION_EXPIRED = "Your session hit the maximum duration of 60 minutes."
# Events that carry no ``event_id`` in the official types.
_NO_EVENT_ID = frozenset({"input_audio_buffer.dtmf_event_received"})
# Headers and query parameters that carry credentials: never shown in the journal.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "openai-api-key"}
)
_SECRET_QUERY = frozenset({"api-key", "api_key", "key", "token", "access_token"})
REDACTED = "<redacted>"
MAX_CLOSE_REASON = 123  # bytes: what fits in a close frame

DEFAULT_JOURNAL_EVENTS = 2_000
DEFAULT_JOURNAL_CONNECTIONS = 20


def _masked(key: str) -> str:
    return key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * len(key)


def _clip(text: str, limit: int = MAX_CLOSE_REASON) -> str:
    """``text`` cut to ``limit`` bytes of UTF-8, on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _redacted_headers(headers: Headers) -> dict[str, str]:
    shown = {}
    for name, value in headers.items():
        if name in _SECRET_HEADERS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest else REDACTED
        elif name == "sec-websocket-protocol":
            # Browsers pass the key as a subprotocol: ``openai-insecure-api-key.<key>``.
            value = ", ".join(
                "openai-insecure-api-key." + REDACTED
                if p.strip().startswith("openai-insecure-api-key.")
                else p.strip()
                for p in value.split(",")
            )
        shown[name] = value
    return shown


def _handshake_rules(headers: Headers) -> tuple[str | None, dict[str, Any] | None]:
    """The handshake rules past the path: the key presented, and the refusal to send (an
    ``error`` event, sent before the close) if the handshake has a retired shape.

    The key: ``Authorization: Bearer|Basic <key>`` (OpenAI), or ``api-key: <key>`` (Azure
    OpenAI, on either path). The retired beta shape (``OpenAI-Beta: realtime=v1``): the real
    service upgrades it, sends one ``beta_api_shape_disabled`` error and closes with 4000
    (capture of 2026-09-15); it says so before looking at the key.
    """
    beta = [part.strip() for part in headers.get("openai-beta", "").split(",")]
    refusal = None
    if "realtime=v1" in beta:
        refusal = error_event(
            "invalid_request_error", "beta_api_shape_disabled", BETA_SHAPE_MESSAGE
        )
    scheme, _, key = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() in ("bearer", "basic") and key.strip():
        return key.strip(), refusal
    return headers.get("api-key", "").strip() or None, refusal


class _HandlerError(Exception):
    """An ``on`` handler raised: carries the event type it was handling."""

    def __init__(self, event_type: str, original: Exception) -> None:
        super().__init__(event_type)
        self.event_type = event_type
        self.original = original


def _explain(exc: BaseException) -> tuple[BaseException, str, str]:
    """The failure to record, what went wrong (for ``check()`` and the ``error`` event), and a
    close reason that names it (at most 123 bytes)."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    if isinstance(exc, _HandlerError):
        original: BaseException = exc.original
        if isinstance(original, ScriptError):
            return original, str(original), _clip(original.reason)
        name = type(original).__name__
        text = str(original).strip().splitlines()[0] if str(original).strip() else ""
        where = f"on({exc.event_type!r}) handler"
        message = f"the {where} raised {name}" + (f": {text}" if text else "")
        reason = f"fake: {where}: {text}" if text else f"fake: {where} raised {name}"
        return original, message, _clip(reason)
    if isinstance(exc, ScriptError):
        return exc, str(exc), _clip(exc.reason)
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"the fake server failed with {name}" + (f": {text}" if text else "")
    reason = (
        f"fake server failure: {name}: {text}"
        if text
        else (f"fake server failure: {name} (see fake.failures)")
    )
    return exc, message, _clip(reason)


class FakeConnection:
    """One client connection to the fake, as tests and ``on`` handlers see it.

    Attributes:
        server: The :class:`FakeRealtimeServer` it belongs to.
        path: The request path.
        query: The query parameters.
        headers: The handshake headers (case-insensitive).
        closed: The close code and reason once the connection ended (or the fake sent its
            close frame), else ``None``.
        session: The session object, as the last ``session.updated`` showed it.
        conversation: The conversation's items (``conversation.items``).
    """

    def __init__(self, server: FakeRealtimeServer, socket: ServerSocket) -> None:
        self.server = server
        self.path = socket.path
        self.query = dict(socket.query)
        self.headers = Headers(socket.headers)
        # The journal: (sequence number, event), the last ``journal_events`` of each direction;
        # sent events as the JSON text sent (a snapshot, and smaller than the dicts).
        self._received: deque[tuple[int, dict[str, Any]]] = deque(maxlen=server.journal_events)
        self._sent: deque[tuple[int, str]] = deque(maxlen=server.journal_events)
        self.closed: tuple[int, str] | None = None
        self.ids = server.ids
        now = server.clock()
        self.translation = socket.path.rstrip("/") == TRANSLATION_PATH
        if self.translation:
            model = self.model or DEFAULT_TRANSLATION_MODEL
            self.session = default_translation_session(self.ids.session(), model, now)
        elif self.query.get("intent") == "transcription":
            self.session = default_transcription_session(self.ids.session(), now)
        else:
            self.session = default_session(self.ids.session(), self.model or "gpt-realtime", now)
        self.conversation = Conversation(self.ids.conversation())
        self.audio = InputAudio()
        self.runs: list[ResponseRun] = []
        self._behaviour: Behaviour | TranslationBehaviour = (
            TranslationBehaviour(self, server.script)
            if self.translation
            else Behaviour(self, server.script, server.pacing)
        )
        self._socket = socket
        self._close_sent = False
        self._tg: TaskGroup | None = None
        self._expiry = anyio.CancelScope()
        self._created = False

    @property
    def model(self) -> str | None:
        """The ``model`` query parameter, if any."""
        return self.query.get("model")

    @property
    def received(self) -> list[dict[str, Any]]:
        """The client events received on this connection, in order, as dicts (the last
        ``journal_events`` of them)."""
        return [event for _, event in self._received]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The server events sent on this connection, in order, as dicts (the last
        ``journal_events`` of them)."""
        return [_DECODE(text) for _, text in self._sent]

    @property
    def active_response(self) -> ResponseRun | None:
        """The response streaming into the conversation, if any (out-of-band ones aside)."""
        for run in self.runs:
            if run.in_conversation and not run.done.is_set():
                return run
        return None

    def journal(self) -> dict[str, Any]:
        """This connection as ``GET /_fake/journal`` shows it (credentials redacted)."""
        return {
            "path": self.path,
            "query": {k: REDACTED if k in _SECRET_QUERY else v for k, v in self.query.items()},
            "headers": _redacted_headers(self.headers),
            "received": self.received,
            "sent": self.sent,
            "closed": list(self.closed) if self.closed is not None else None,
        }

    def clear_journal(self) -> None:
        self._received.clear()
        self._sent.clear()

    # -- sending -----------------------------------------------------------------------------

    async def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event, giving it an ``event_id`` if it has none; return it as sent.

        The event is sent as it is at this call (later changes to the objects it contains do
        not show), after ``server.latency`` seconds (latency injection).
        """
        if "event_id" not in event and event.get("type") not in _NO_EVENT_ID:
            event = {"type": event["type"], "event_id": self.ids.event(), **event}
        text = _COMPACT.encode(event)
        if self.server.latency > 0:
            await anyio.sleep(self.server.latency)
        if self.closed is not None or self._close_sent:
            return event
        # Journaled before the send, so that the journal's order is the wire's whoever sends
        # next; no lock: a ServerSocket sends each message whole and in the order of the calls.
        self._sent.append((self.server._next_seq(), text))
        await self._socket.send_text(text)
        return event

    async def send_text(self, text: str) -> None:
        """Send a raw text frame, as is."""
        if self.closed is None and not self._close_sent:
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
        # Ended from now on, as the journal and live_connections see it: the client's echo
        # arrives later, or never if serving stops first.
        if self.closed is None:
            self.closed = (code, reason)
        await self._socket.close(code, reason)

    async def abort(self) -> None:
        """Drop the connection without a close frame."""
        self.closed = (1006, "aborted by the fake")
        await self._socket.abort()

    async def handle_default(self, event: dict[str, Any]) -> None:
        """Answer ``event`` as the fake does by default (for use inside ``on`` handlers)."""
        await self._behaviour.dispatch(event)

    async def _fail(self, message: str, reason: str) -> None:
        """Tell the client what went wrong on the server side, then close 1011 with ``reason``."""
        if not self._close_sent and self.closed is None:
            event = error_event(
                "server_error", "fake_server_failure", f"The fake Realtime server failed: {message}"
            )
            event = {"type": "error", "event_id": self.ids.event(), **event}
            text = _COMPACT.encode(event)
            self._sent.append((self.server._next_seq(), text))
            await self._socket.send_text(text)
            await self.close(1011, reason)
        self.closed = (1011, reason)

    # -- running -----------------------------------------------------------------------------

    def start_run(self, run: ResponseRun) -> None:
        if self._tg is None:  # pragma: no cover - runs start from within serve()
            raise RuntimeError("the connection is not being served")
        self.runs.append(run)
        self._tg.start_soon(self._stream, run)

    async def _stream(self, run: ResponseRun) -> None:
        await run.run()
        self.runs.remove(run)
        self.audio.idle_since_ms = self.audio.stream_ms(self.session["audio"]["input"]["format"])
        await self.send_event(self.server.rate_limits(run))

    async def _expire_after(self, seconds: float, scope: anyio.CancelScope) -> None:
        # The scope is made by schedule_expiry, not here: a cancel_expiry() between start_soon
        # and this task's first step must still cancel it.
        with scope:
            await anyio.sleep(seconds)
            if self.closed is None and not self._close_sent:
                await self.send_event(
                    error_event("invalid_request_error", "session_expired", SESSION_EXPIRED)
                )
                await self.close(1001, SESSION_EXPIRED)

    def schedule_expiry(self, seconds: float) -> None:
        if self._tg is not None and self._created:
            self.cancel_expiry()
            self._tg.start_soon(self._expire_after, seconds, self._expiry)

    def cancel_expiry(self) -> None:
        self._expiry.cancel()
        self._expiry = anyio.CancelScope()

    async def serve(self, tg: TaskGroup) -> None:
        self._tg = tg
        if not await self._authenticate():
            await self._drain()
            return
        await self.send_event({"type": "session.created", "session": self.session})
        # A session's time counts from session.created: the expiry never precedes it, even at
        # 0 seconds with latency injected (both events would wait out the latency together).
        self._created = True
        if self.server.session_limit is not None:
            self.schedule_expiry(self.server.session_limit)
        if isinstance(self._behaviour, Behaviour):
            # A session minted with mcp tools lists them at once, as an update would.
            await self._behaviour.list_mcp_tools(self.session.get("tools") or [])
        while (message := await self._receive()) is not None:
            if not self._close_sent:
                await self._on_message(message)

    async def _drain(self) -> None:
        while await self._receive() is not None:
            pass

    async def _receive(self) -> str | bytes | None:
        """The client's next message, or ``None`` once it closed (noted in ``closed``)."""
        message = await self._socket.receive()
        if isinstance(message, Close):
            if self.closed is None:
                self.closed = (message.code, message.reason)
            return None
        return message

    async def _authenticate(self) -> bool:
        key, refusal = _handshake_rules(self.headers)
        if refusal is not None:
            await self.send_event(refusal)
            await self.close(4000, "invalid_request_error.beta_api_shape_disabled")
            return False
        if key is None:
            # As reported: the upgrade succeeds, then an error. Closing afterwards (3000) is
            # assumed, as for an invalid key.
            await self.send_event(error_event("invalid_request_error", None, MISSING_AUTH))
            await self.close(3000, "invalid_request_error")
            return False
        expected = self.server.api_key
        if key.startswith("ek_"):
            # An ephemeral key minted by this fake: good until it expires, whatever api_key is;
            # its sessions start with the configuration it was minted with.
            minted = self.server.client_secrets.lookup(key)
            if minted is not None and minted.translation == self.translation:
                self.session = self.server.client_secrets.session_for(minted)
                return True
        if (expected is not None or key.startswith("ek_")) and key != expected:
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
        self._received.append((self.server._next_seq(), event))
        self.server._note_received()
        handler = self.server.handlers.get(event["type"])
        if handler is None:
            await self._behaviour.dispatch(event)
            return
        try:
            result = handler(event, self)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise _HandlerError(event["type"], exc) from exc


class FakeRealtimeServer(Replies[None]):
    """A fake of the OpenAI Realtime service (GA protocol), for tests.

    Args:
        api_key: Accept only this key (``Authorization: Bearer <key>``, or Azure's
            ``api-key: <key>``); by default any non-empty key is accepted. Served beyond
            loopback, the control plane requires it too.
        clock: Wall-clock time in Unix seconds, for ``expires_at`` and other timestamps;
            a :class:`~fakes.FakeClock` (fixed until advanced) by default.
        delta_delay: Seconds to wait before each delta (default: as fast as possible).
        realtime_audio: Pace audio deltas in real time (each waits as long as its audio lasts).
        latency: Seconds to wait before each server event (latency injection).
        journal_events: The journal keeps at most this many events per connection and
            direction (the latest), and this many plain HTTP requests.
        journal_connections: The journal keeps the last this many closed connections (live
            ones are always kept).

    Attributes:
        connections: The connections kept in the journal (every live one, the last
            ``journal_connections`` closed ones), in the order they opened.
        handlers: The ``on`` handlers, by client event type.
        failures: Exceptions raised by server-side test code (``on`` handlers, the script);
            :meth:`check` raises the first as an ``AssertionError``.
        http_requests: The plain HTTP requests served (the control plane's excluded), as
            ``{"method", "path", "status"}``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] | None = None,
        delta_delay: float = 0.0,
        realtime_audio: bool = False,
        latency: float = 0.0,
        journal_events: int = DEFAULT_JOURNAL_EVENTS,
        journal_connections: int = DEFAULT_JOURNAL_CONNECTIONS,
    ) -> None:
        if journal_events < 1 or journal_connections < 0:
            raise ValueError("journal_events must be 1 or more, journal_connections 0 or more")
        self.api_key = api_key
        self.clock: Callable[[], float] = clock if clock is not None else FakeClock()
        self.pacing = Pacing(delta_delay=delta_delay, realtime_audio=realtime_audio)
        self.latency = latency
        self.journal_events = journal_events
        self.journal_connections = journal_connections
        self.connections: list[FakeConnection] = []
        self.handlers: dict[str, Handler] = {}
        self.failures: list[BaseException] = []
        self.http_requests: deque[dict[str, Any]] = deque(maxlen=journal_events)
        self.ids = IdFactory()
        self.script = Script()
        self.client_secrets = ClientSecrets(self.ids, self.clock)
        self.session_limit: float | None = None
        self._initial_latency = latency
        self._explanations: list[str] = []
        self._closed: deque[FakeConnection] = deque()
        self._seq = itertools.count()
        self._tokens_used = 0
        self._received_changed = anyio.Event()
        # Set while served from a background thread (fakes._threaded): the loop that owns the
        # fake's state; async methods called from elsewhere run there.
        self._home: Home | None = None

    def _away(self) -> Home | None:
        """The fake's home thread, if it has one and this is another thread."""
        home = self._home
        return None if home is None or home.is_current() else home

    def _next_seq(self) -> int:
        return next(self._seq)

    def _note_received(self) -> None:
        changed, self._received_changed = self._received_changed, anyio.Event()
        changed.set()

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every client event the journal keeps, across connections, in order, as dicts."""
        merged = heapq.merge(*(c._received for c in self.connections), key=lambda e: e[0])
        return [event for _, event in merged]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every server event the journal keeps, across connections, in order, as dicts."""
        merged = heapq.merge(*(c._sent for c in self.connections), key=lambda e: e[0])
        return [_DECODE(text) for _, text in merged]

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

    def journal(self) -> dict[str, Any]:
        """The journal as ``GET /_fake/journal`` shows it: each kept connection (path, query,
        headers with credentials redacted, received and sent events, close) and the plain HTTP
        requests served."""
        return {
            "connections": [c.journal() for c in self.connections],
            "http": list(self.http_requests),
        }

    # -- serving -----------------------------------------------------------------------------

    async def handle(self, socket: ServerSocket) -> None:
        """Serve one connection until it ends (transports call this once per connection)."""
        if socket.path.rstrip("/") not in (REALTIME_PATH, AZURE_PATH, TRANSLATION_PATH):
            body = {
                "error": {
                    "message": f"Invalid URL (GET {socket.path})",
                    "type": "invalid_request_error",
                    "code": None,
                    "param": None,
                }
            }
            self.http_requests.append({"method": "GET", "path": socket.path, "status": 404})
            await socket.reject(404, json.dumps(body).encode())
            return
        await socket.accept()
        connection = FakeConnection(self, socket)
        self.connections.append(connection)
        try:
            async with anyio.create_task_group() as tg:
                await connection.serve(tg)
                tg.cancel_scope.cancel()
        except Exception as exc:  # recorded, raised by check()
            failure, message, reason = _explain(exc)
            self.failures.append(failure)
            self._explanations.append(message)
            with anyio.CancelScope(shield=True):
                await connection._fail(message, reason)
        finally:
            self._forget_closed(connection)

    def _forget_closed(self, connection: FakeConnection) -> None:
        """Keep the last ``journal_connections`` closed connections in the journal."""
        if connection not in self.connections:
            return  # a reset dropped it already
        self._closed.append(connection)
        while len(self._closed) > self.journal_connections:
            oldest = self._closed.popleft()
            if oldest in self.connections:
                self.connections.remove(oldest)

    async def _answer_http(self, control: ControlPlane, request: HttpRequest) -> HttpResponse:
        """A plain HTTP request: the control plane's, or one the fake refuses (journaled)."""
        if request.path.startswith(CONTROL_PREFIX) or request.path == CONTROL_PREFIX[:-1]:
            return await control(request)
        path = request.path.rstrip("/")
        if path in (REALTIME_SECRETS_PATH, TRANSLATION_SECRETS_PATH):
            response = self._http_refusal(request) or self.client_secrets.mint(
                request, translation=path == TRANSLATION_SECRETS_PATH
            )
            self.http_requests.append(
                {"method": request.method, "path": request.path, "status": response.status}
            )
            return response
        if path in (REALTIME_PATH, AZURE_PATH, TRANSLATION_PATH):
            status, message = 400, "Expected a WebSocket upgrade request (GET with Upgrade)."
        else:
            status, message = 404, f"Invalid URL ({request.method} {request.path})"
        self.http_requests.append(
            {"method": request.method, "path": request.path, "status": status}
        )
        error = {"message": message, "type": "invalid_request_error", "code": None, "param": None}
        return json_response(status, {"error": error})

    def _http_refusal(self, request: HttpRequest) -> HttpResponse | None:
        """The 401 answer to a REST request without the fake's key (any key when it has none;
        never an ephemeral one), or ``None`` when its credentials are good."""
        scheme, _, key = request.header("authorization").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            code, message = None, MISSING_AUTH
        elif key.startswith("ek_") or (self.api_key is not None and key != self.api_key):
            code = "invalid_api_key"
            message = (
                f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
        else:
            return None
        error = {"message": message, "type": "invalid_request_error", "code": code, "param": None}
        return json_response(401, {"error": error})

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl: SSLContext | None = None
    ) -> AbstractAsyncContextManager[str]:
        """Serve this fake on a real socket; the context yields its ``ws://`` (or ``wss://``) URL.

        The URL ends in ``/v1/realtime``, so the official SDK reaches it with
        ``websocket_base_url=url.removesuffix("/realtime")``. The HTTP control plane answers
        under ``/_fake/`` on the same host and port (see ``docs/testing-with-the-fake.md``).

        Raises:
            ValueError: ``host`` is not a loopback address and the fake has no ``api_key``:
                beyond loopback, the control plane is a door into the fake, so it must be
                locked with the key (it then requires ``Authorization: Bearer <api_key>``).
        """
        from ._serve import serve

        loopback = is_loopback(host)
        if not loopback and self.api_key is None:
            raise ValueError(
                f"refusing to serve the fake on {host}, beyond loopback, without an API key: "
                "give FakeRealtimeServer(api_key=...) (realtime fake serve --api-key KEY); "
                "clients and the control plane must then present it"
            )
        control = ControlPlane(self, api_key=None if loopback else self.api_key)

        async def answer_http(request: HttpRequest) -> HttpResponse:
            return await self._answer_http(control, request)

        return serve(self.handle, host=host, port=port, ssl=ssl, http=answer_http)

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

    def check_report(self, *, strict: bool = True) -> tuple[list[str], list[Any]]:
        """What :meth:`check` would report: the server-side failures (what went wrong, in
        words) and, with ``strict``, each unused step or rule as it was given."""
        failures = [
            self._explanations[i] if i < len(self._explanations) else str(failure)
            for i, failure in enumerate(self.failures)
        ]
        return failures, self.script.unused_as_given() if strict else []

    def check(self, *, strict: bool = True) -> None:
        """Raise what went wrong on the server side during the test, as an ``AssertionError``.

        Raises:
            AssertionError: Server-side test code failed (an ``on`` handler raised, the script
                called a function the app never declared, a rule had no reply): the first
                failure (an ``AssertionError`` raised there is raised as is; another exception
                is the cause of one that says where it happened). With ``strict``, a scripted
                step never used, or a rule whose ``times`` were not used up, is reported too.
        """
        if self.failures:
            failure = self.failures[0]
            more = len(self.failures) - 1
            if isinstance(failure, AssertionError):
                if more and sys.version_info >= (3, 11):
                    failure.add_note(f"({more} more server-side failure(s))")
                raise failure
            message = self.check_report()[0][0]
            if more:
                message += f" ({more} more server-side failure(s))"
            raise AssertionError(message) from failure
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

    def reset(self) -> None:
        """Forget the script, the rules, the journal, the failures and the faults (latency back
        to the constructor's, no session expiry), as ``POST /_fake/reset`` does. ``on`` handlers
        stay; live connections stay open, their journals emptied."""
        self.script.clear()
        self.failures.clear()
        self._explanations.clear()
        self.latency = self._initial_latency
        self.session_limit = None
        self.connections = self.live_connections
        self._closed.clear()
        self.http_requests.clear()
        for connection in self.connections:
            connection.clear_journal()
            connection.cancel_expiry()

    # -- scripting ---------------------------------------------------------------------------

    def reply(self, *outputs: Output, stall_after: int | None = None) -> None:
        """Queue one response carrying every output in ``outputs``, in order, streamed as the
        real service streams several outputs, e.g. a message then a call:
        ``fake.reply(Text("Checking."), FunctionCall("get_weather", {"city": "Paris"}))``.

        Args:
            outputs: :class:`fakes.Text`, :class:`fakes.Audio`, :class:`fakes.FunctionCall` or
                :class:`fakes.McpCall`.
            stall_after: Stream this many deltas (over the whole response), then wait to be
                cancelled.

        Raises:
            TypeError: No output, or one that is not an output.
        """
        self.script.replies.append(reply_of(*outputs, stall_after=stall_after))

    def when(
        self,
        *,
        contains: str | None = None,
        tool_output_of: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Add a rule: an answer chosen by what the user said. Give it its answer with
        ``.reply(...)``, ``.reply_text(...)``, ``.reply_audio(...)`` or
        ``.reply_function_call(...)``.

        A response gets the queued replies first (in order), then the first matching rule (in
        the order added), then the default reply.

        Args:
            contains: Matches when the latest user input (message text, or the transcript of
                its audio) contains this, ignoring case.
            tool_output_of: Matches when the latest item is the output of a call of this
                function.
            times: Answer this many matches (strict mode reports a rule not used up); ``None``
                answers every match.

        Raises:
            TypeError: Neither ``contains`` nor ``tool_output_of`` given.
            ValueError: ``times`` is not a positive integer.
        """
        rule = Rule(contains=contains, tool_output_of=tool_output_of, times=times)
        self.script.rules.append(rule)
        return rule

    def mcp_server(
        self,
        server_label: str,
        tools: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
        *,
        fail: str | bool | None = None,
    ) -> None:
        """Play the remote MCP server ``server_label``: what it lists when a session (or a
        response) brings an ``mcp`` tool with that label.

        Args:
            server_label: The ``server_label`` of the app's ``mcp`` tool.
            tools: ``[{"name", "description"?, "input_schema"?, "annotations"?}]``.
            fail: Listing fails (``mcp_list_tools.failed``); a string says why, for the reader.

        Raises:
            TypeError: ``tools`` is not a list of objects with a string ``name``.
            ValueError: A tool has an unknown key.
        """
        self.script.mcp_servers[server_label] = McpServer(
            server_label, check_server_tools(tools), fail
        )

    def translate(
        self,
        output_transcript: str,
        *,
        audio: bytes | None = None,
        input_transcript: str | None = None,
    ) -> None:
        """Queue what the next stretch of speech on a translation session translates to.

        Args:
            output_transcript: The translation's text (``session.output_transcript.delta``).
            audio: The translated speech (24 kHz PCM16 mono); synthetic when ``None``.
            input_transcript: The source transcript (``session.input_transcript.delta``, sent
                when the session configures input transcription); ``"Hello."`` when ``None``.
        """
        self.script.translations.append(
            Translation(
                output_transcript,
                bytes(audio) if audio is not None else None,
                input_transcript,
            )
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
        test: the client gets an ``error`` event saying so and a close 1011 naming it, and
        :meth:`check` raises it. Usable as a decorator: ``@fake.on("response.create")``.
        """

        def register(function: Handler) -> Handler:
            self.handlers[event_type] = function
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
