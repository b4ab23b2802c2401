"""The fake's default answer to each client event, as the real service behaves (protocol notes,
recordings). One :class:`Behaviour` per connection; it owns no I/O, only state and decisions,
and sends through its connection, which it sees as a :class:`Host`: the layer above
(``_server``) provides it, and nothing here imports that layer."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ._audio import MIN_COMMIT_MS, InputAudio, VadEvent, bytes_per_ms, decode_base64_audio
from ._conversation import check_content_index, normalize_item
from ._errors import ClientError
from ._mcp import McpServer, allowed_tools, mcp_tools
from ._responses import (
    Pacing,
    ResponseHost,
    ResponseRun,
    default_reply,
    parse_response_params,
    text_chunks,
)
from ._script import (
    FunctionCall,
    McpCall,
    Output,
    Reply,
    Script,
    ScriptError,
    TranscriptionFailure,
)
from ._session import (
    apply_session_update,
    expect_int,
    expect_str,
    given_fields,
    invalid_value,
)

__all__ = ["DEFAULT_TRANSCRIPT", "Behaviour", "Host"]

DEFAULT_TRANSCRIPT = "Hello."


class Host(ResponseHost, Protocol):
    """What the behaviour touches of its connection (``FakeConnection`` provides it)."""

    audio: InputAudio
    runs: list[ResponseRun]

    @property
    def active_response(self) -> ResponseRun | None: ...

    def start_run(self, run: ResponseRun) -> None: ...


def check_declared(
    reply: Reply, tools: list[dict[str, Any]], servers: dict[str, McpServer] | None = None
) -> None:
    """Refuse a reply that calls a function the app never declared, or an MCP tool its MCP
    servers do not offer: the real model could not.

    Raises:
        ScriptError: One of its function calls names an undeclared function, or an MCP call
            names a server with no ``mcp`` tool, one the fake does not play, or a tool that
            server does not list (``allowed_tools`` applied).
    """
    names = [t.get("name") for t in tools if t.get("type") == "function"]
    declared = mcp_tools(tools)
    for output in reply.outputs:
        if isinstance(output, McpCall):
            _check_mcp_call(reply, output, declared, servers or {})
        if isinstance(output, FunctionCall) and output.name not in names:
            raise ScriptError(
                f"the script says {reply.describe()}, but the app declared no function tool "
                f"named {output.name!r} (declared: {names}); the real model could not call it",
                f"fake: the script calls function {output.name!r}, which the app never declared",
            )


def _check_mcp_call(
    reply: Reply,
    call: McpCall,
    declared: dict[str, dict[str, Any]],
    servers: dict[str, McpServer],
) -> None:
    label = call.server_label
    config = declared.get(label)
    server = servers.get(label)
    if config is None:
        problem = f"the app declared no mcp tool with server_label {label!r}"
    elif server is None or server.fail:
        problem = f"the fake plays no MCP server {label!r} (give it fake.mcp_server({label!r}))"
    elif call.name not in [t["name"] for t in allowed_tools(config, server.listed())]:
        problem = f"MCP server {label!r} lists no tool {call.name!r} (allowed_tools applied)"
    else:
        return
    raise ScriptError(
        f"the script says {reply.describe()}, but {problem}; the real model could not call it",
        f"fake: the script calls MCP tool {call.name!r} of {label!r}, which is not available"[:123],
    )


class Behaviour:
    """Default handling of client events for one connection."""

    def __init__(self, connection: Host, script: Script, pacing: Pacing) -> None:
        self.conn = connection
        self.script = script
        self.pacing = pacing
        self._routes: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self.session_update,
            "conversation.item.create": self.item_create,
            "conversation.item.retrieve": self.item_retrieve,
            "conversation.item.delete": self.item_delete,
            "conversation.item.truncate": self.item_truncate,
            "input_audio_buffer.append": self.audio_append,
            "input_audio_buffer.commit": self.audio_commit,
            "input_audio_buffer.clear": self.audio_clear,
            "output_audio_buffer.clear": self.output_audio_clear,
            "response.create": self.response_create,
            "response.cancel": self.response_cancel,
        }
        self.pending_item_id: str | None = None  # the item id VAD gave the speech in progress
        self.received_event: dict[str, Any] = {}  # the event being handled, as received
        # MCP servers listed on this connection: the tool's configuration each was listed for.
        self.mcp_listed: dict[str, dict[str, Any]] = {}
        # Approval requests sent and not yet answered: id -> the call and the outputs after it.
        self.mcp_pending: dict[str, tuple[McpCall, tuple[Output, ...]]] = {}

    # -- helpers -----------------------------------------------------------------------------

    @property
    def fmt(self) -> dict[str, Any]:
        fmt: dict[str, Any] = self.conn.session["audio"]["input"]["format"]
        return fmt

    @property
    def vad(self) -> dict[str, Any] | None:
        detection: dict[str, Any] | None = self.conn.session["audio"]["input"]["turn_detection"]
        return detection

    async def send(self, event: dict[str, Any]) -> None:
        await self.conn.send_event(event)

    # -- dispatch ----------------------------------------------------------------------------

    async def dispatch(self, event: dict[str, Any]) -> None:
        """Answer ``event`` as the real service would; a refusal becomes an ``error`` event."""
        client_id = event.get("event_id")
        try:
            if client_id is not None and not isinstance(client_id, str):
                client_id = None
                raise ClientError(
                    "invalid_type",
                    "Invalid type for 'event_id': expected a string.",
                    param="event_id",
                )
            kind = event["type"]
            if kind not in self._routes:
                raise invalid_value("type", kind, list(self._routes))
            # The fields the SDK's type of this event has; null for an optional one is "not
            # given" (the journal keeps the event as sent: self.received_event).
            self.received_event = event
            await self._routes[kind](given_fields(event, f"event:{kind}", ""))
        except ClientError as refusal:
            await self.send(refusal.event(client_id))

    # -- session -----------------------------------------------------------------------------

    async def session_update(self, event: dict[str, Any]) -> None:
        if "session" not in event:
            raise ClientError(
                "missing_required_parameter",
                "Missing required parameter: 'session'.",
                param="session",
            )
        self.conn.session = apply_session_update(self.conn.session, event["session"])
        await self.send({"type": "session.updated", "session": self.conn.session})
        await self.list_mcp_tools(self.conn.session.get("tools") or [])

    # -- remote MCP tools --------------------------------------------------------------------

    async def list_mcp_tools(self, tools: list[dict[str, Any]]) -> None:
        """List the tools of each ``mcp`` tool not yet listed with this configuration.

        The order is inferred from the API reference (no recording): the ``mcp_list_tools``
        item is added, ``mcp_list_tools.in_progress``, then ``.completed`` (the item holds the
        tools, ``allowed_tools`` applied) or ``.failed`` (an unknown label, or ``fail``), then
        the item is done.
        """
        for label, config in mcp_tools(tools).items():
            if self.mcp_listed.get(label) == config:
                continue
            self.mcp_listed[label] = config
            conversation = self.conn.conversation
            item: dict[str, Any] = {
                "id": self.conn.ids.item(),
                "type": "mcp_list_tools",
                "server_label": label,
                "tools": [],
            }
            previous = conversation.insert(item)
            await self.send(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
            )
            await self.send({"type": "mcp_list_tools.in_progress", "item_id": item["id"]})
            server = self.script.mcp_servers.get(label)
            if server is None or server.fail:
                await self.send({"type": "mcp_list_tools.failed", "item_id": item["id"]})
            else:
                item["tools"] = allowed_tools(config, server.listed())
                conversation.touch(item["id"])
                await self.send({"type": "mcp_list_tools.completed", "item_id": item["id"]})
            await self.send(
                {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
            )

    def _on_approval_request(
        self, request_id: str, call: McpCall, held: tuple[Output, ...]
    ) -> None:
        self.mcp_pending[request_id] = (call, held)

    def _answered_approval(self, context: list[dict[str, Any]]) -> Reply | None:
        """The reply that follows the app's latest answer to a pending approval request, if the
        latest such answer is in ``context``: approved, the call and the outputs held back;
        refused, the outputs held back alone (none: the script chooses as usual)."""
        for item in reversed(context):
            if item.get("type") != "mcp_approval_response":
                continue
            pending = self.mcp_pending.pop(item.get("approval_request_id", ""), None)
            if pending is None:
                continue
            call, held = pending
            if item.get("approve") is True:
                return Reply((call.approved(item["approval_request_id"]), *held))
            return Reply(held) if held else None
        return None

    # -- conversation items ------------------------------------------------------------------

    async def item_create(self, event: dict[str, Any]) -> None:
        if "item" not in event:
            raise ClientError(
                "missing_required_parameter", "Missing required parameter: 'item'.", param="item"
            )
        item = normalize_item(event["item"], self.conn.ids.item)
        previous = event.get("previous_item_id")
        if previous is not None:
            expect_str(previous, "previous_item_id")
        conversation = self.conn.conversation
        previous_id = conversation.insert(item, previous)
        for part in item.get("content") or []:
            if part.get("type") == "input_audio" and "audio" in part:
                pcm = decode_base64_audio(part["audio"], "item.content.audio")
                conversation.set_audio_ms(item["id"], len(pcm) // bytes_per_ms(self.fmt))
        await self.send(
            {"type": "conversation.item.added", "previous_item_id": previous_id, "item": item}
        )
        await self.send(
            {"type": "conversation.item.done", "previous_item_id": previous_id, "item": item}
        )

    async def item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.conn.conversation.require(
            event.get("item_id"), "item_retrieve_invalid_item_id", "retrieving"
        )
        await self.send({"type": "conversation.item.retrieved", "item": item})

    async def item_delete(self, event: dict[str, Any]) -> None:
        item = self.conn.conversation.require(
            event.get("item_id"), "item_delete_invalid_item_id", "deleting"
        )
        self.conn.conversation.delete(item["id"])
        await self.send({"type": "conversation.item.deleted", "item_id": item["id"]})

    async def item_truncate(self, event: dict[str, Any]) -> None:
        conversation = self.conn.conversation
        item = conversation.require(
            event.get("item_id"), "item_truncate_invalid_item_id", "truncating"
        )
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ClientError(
                "invalid_value",
                "Only assistant messages with audio can be truncated.",
                param="item_id",
            )
        part = check_content_index(item, event.get("content_index"))
        if part.get("type") != "output_audio":
            raise ClientError(
                "invalid_value",
                "The content part at 'content_index' is not audio.",
                param="content_index",
            )
        audio_end_ms = expect_int(event.get("audio_end_ms"), "audio_end_ms", 0)
        duration = conversation.audio_ms.get(item["id"], 0)
        if audio_end_ms > duration:
            raise ClientError(
                "invalid_value",
                f"Audio content of {duration}ms is shorter than {audio_end_ms}ms.",
                param="audio_end_ms",
            )
        # As the service does: the audio is cut, and the now-unreliable transcript dropped.
        conversation.truncate_audio(item["id"], part, audio_end_ms)
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": event["content_index"],
                "audio_end_ms": audio_end_ms,
            }
        )

    # -- input audio -------------------------------------------------------------------------

    async def audio_append(self, event: dict[str, Any]) -> None:
        if "audio" not in event:
            raise ClientError(
                "missing_required_parameter", "Missing required parameter: 'audio'.", param="audio"
            )
        pcm = decode_base64_audio(event["audio"])
        audio = self.conn.audio
        seen_by_vad = audio.append(pcm, self.fmt, self.vad)
        # Its audio is released from the journal once committed or cleared.
        audio.hold(self.received_event)
        for seen in seen_by_vad:
            await self._on_vad(seen)
        await self._check_idle_timeout()

    async def _on_vad(self, seen: VadEvent) -> None:
        vad = self.vad or {}
        if seen.kind == "started":
            self.pending_item_id = self.conn.ids.item()
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": seen.ms,
                    "item_id": self.pending_item_id,
                }
            )
            active = self.conn.active_response
            if active is not None and vad.get("interrupt_response", True):
                active.cancel("turn_detected")
            return
        item_id = self.pending_item_id or self.conn.ids.item()
        self.pending_item_id = None
        await self.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": seen.ms,
                "item_id": item_id,
            }
        )
        self.conn.audio.idle_since_ms = seen.ms
        await self._commit(item_id, seen.ms, auto_response=vad.get("create_response", True))

    async def _check_idle_timeout(self) -> None:
        vad = self.vad
        audio = self.conn.audio
        if (
            vad is None
            or vad.get("type") != "server_vad"
            or vad.get("idle_timeout_ms") is None
            or audio.speaking
            or self.conn.active_response is not None
        ):
            return
        now_ms = audio.stream_ms(self.fmt)
        if now_ms - audio.idle_since_ms < vad["idle_timeout_ms"]:
            return
        item_id = self.conn.ids.item()
        await self.send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": audio.idle_since_ms,
                "audio_end_ms": now_ms,
                "item_id": item_id,
            }
        )
        audio.idle_since_ms = now_ms
        await self._commit(item_id, now_ms, auto_response=vad.get("create_response", True))

    async def audio_commit(self, event: dict[str, Any]) -> None:
        buffered = self.conn.audio.buffered_ms(self.fmt)
        if buffered < MIN_COMMIT_MS:
            raise ClientError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered:.2f}ms of audio.",
            )
        item_id = self.pending_item_id or self.conn.ids.item()
        self.pending_item_id = None
        self.conn.audio.speaking = False
        await self._commit(item_id, None, auto_response=False)

    async def _commit(self, item_id: str, end_ms: int | None, *, auto_response: bool) -> None:
        """Commit the buffer (up to ``end_ms``) as a user audio item; transcribe; respond."""
        conn = self.conn
        pcm = conn.audio.take(end_ms, self.fmt)
        duration_ms = len(pcm) // bytes_per_ms(self.fmt)
        previous = conn.conversation.last_id
        await self.send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        if conn.session["type"] == "transcription":
            await self._send_all(self._transcription(item_id, duration_ms, None))
            return
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        conn.conversation.insert(item)
        conn.conversation.set_audio_ms(item_id, duration_ms)
        await self.send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        await self.send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )
        transcription = self._transcription(item_id, duration_ms, item)
        if auto_response and conn.active_response is None:
            # As recorded: transcription events follow response.created.
            await self.start_response({"type": "response.create"}, before_output=transcription)
        else:
            await self._send_all(transcription)

    def _transcription(
        self, item_id: str, duration_ms: int, item: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """The transcription events for a committed item (none if transcription is off)."""
        config = self.conn.session["audio"]["input"].get("transcription")
        if config is None:
            return []
        step = self.script.next_transcript()
        if isinstance(step, TranscriptionFailure):
            return [
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    "item_id": item_id,
                    "content_index": 0,
                    "error": {
                        "type": "transcription_error",
                        "code": step.code,
                        "message": step.message,
                        "param": None,
                    },
                }
            ]
        text = step.text if step is not None else DEFAULT_TRANSCRIPT
        if item is not None:
            item["content"][0]["transcript"] = text
            self.conn.conversation.touch(item_id)
        seconds = round(duration_ms / 1000, 3)
        events: list[dict[str, Any]] = []
        if "diarize" in str(config.get("model", "")):
            events.append(
                {
                    "type": "conversation.item.input_audio_transcription.segment",
                    "id": self.conn.ids.segment(),
                    "item_id": item_id,
                    "content_index": 0,
                    "text": text,
                    "speaker": "A",
                    "start": 0.0,
                    "end": float(seconds),
                }
            )
        else:
            events += [
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": chunk,
                }
                for chunk in text_chunks(text)
            ]
        events.append(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": text,
                "usage": {"type": "duration", "seconds": math.ceil(seconds)},
            }
        )
        return events

    async def _send_all(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self.send(event)

    async def audio_clear(self, event: dict[str, Any]) -> None:
        self.conn.audio.clear(self.fmt)
        self.pending_item_id = None
        await self.send({"type": "input_audio_buffer.cleared"})

    async def output_audio_clear(self, event: dict[str, Any]) -> None:
        # The output audio buffer exists only on WebRTC and SIP connections; over WebSocket
        # the client buffers audio itself. The exact refusal is not documented: assumed here.
        raise ClientError(
            "invalid_value",
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            param="type",
        )

    # -- responses ---------------------------------------------------------------------------

    async def response_create(self, event: dict[str, Any]) -> None:
        await self.start_response(event)

    async def start_response(
        self, event: dict[str, Any], before_output: list[dict[str, Any]] | None = None
    ) -> ResponseRun:
        conn = self.conn
        if conn.session["type"] == "transcription":
            raise ClientError(
                "invalid_value",
                "Responses are not supported in transcription sessions.",
                param="type",
            )
        params = parse_response_params(
            event.get("response"), conn.session, conn.conversation, conn.ids
        )
        active = conn.active_response
        if params.in_conversation and active is not None:
            raise ClientError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
            )
        await self.list_mcp_tools(params.tools)
        context = params.input_items if params.input_items is not None else conn.conversation.items
        # Which answer: an answered MCP approval's, the queued replies, then the first matching
        # rule, then the default.
        reply = self._answered_approval(context) or self.script.choose(context)
        if reply is None:
            reply = default_reply(context)
        else:
            check_declared(reply, params.tools, self.script.mcp_servers)
        run = ResponseRun(
            conn,
            params,
            reply,
            pacing=self.pacing,
            before_output=before_output,
            on_approval_request=self._on_approval_request,
        )
        conn.start_run(run)
        return run

    async def response_cancel(self, event: dict[str, Any]) -> None:
        conn = self.conn
        response_id = event.get("response_id")
        if response_id is not None:
            expect_str(response_id, "response_id")
            target = next((r for r in conn.runs if r.id == response_id), None)
        else:
            target = conn.active_response
        if target is None:
            raise ClientError(
                "response_cancel_not_active",
                "Cancellation failed: no active response found.",
            )
        target.cancel("client_cancelled")
