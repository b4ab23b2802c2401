"""Responses: ``response.create`` parameters, the default reply, and streaming one response's
events in the order the real service sends them (see the recordings), with cancellation.

One :class:`ResponseRun` streams one response, in a task of its connection, so the connection
keeps receiving (``response.cancel`` stops a running response with status ``cancelled``).
"""

from __future__ import annotations

import base64
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from ._audio import bytes_per_ms, pcm16_tone
from ._conversation import (
    Conversation,
    item_tokens,
    json_copy,
    normalize_item,
    text_of,
    tokens,
)
from ._errors import ClientError
from ._ids import IdFactory
from ._mcp import mcp_tools, requires_approval
from ._script import Audio, FunctionCall, McpCall, Output, Reply, Text
from ._session import (
    check_audio_format,
    check_keys,
    check_max_output_tokens,
    check_output_modalities,
    check_tool_choice,
    check_tools,
    check_voice,
    expect_bool,
    expect_choice,
    expect_list,
    expect_object,
    expect_str,
    given_fields,
)

__all__ = [
    "DEFAULT_TEXT",
    "OpenItem",
    "Pacing",
    "ResponseHost",
    "ResponseParams",
    "ResponseRun",
    "default_reply",
    "parse_response_params",
]

DEFAULT_TEXT = "Hello from the fake Realtime server."
AUDIO_CHUNK_MS = 100
# Input transcription pacing (the recorded server VAD turn): this many events right after
# response.created, then one every this many output deltas.
TRANSCRIPTION_AHEAD = 3
TRANSCRIPTION_EVERY = 3
# Unpaced deltas: the response yields to the event loop after this many.
YIELD_EVERY = 8
SYNTH_MS_PER_CHAR = 20


@dataclass(frozen=True)
class Pacing:
    """How fast deltas go out.

    Attributes:
        delta_delay: Seconds to wait before each delta (0: as fast as possible).
        realtime_audio: Wait, after each audio delta, as long as the audio it carried lasts.
    """

    delta_delay: float = 0.0
    realtime_audio: bool = False


class ResponseHost(Protocol):
    """What a response needs from its connection."""

    ids: IdFactory
    session: dict[str, Any]
    conversation: Conversation

    async def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send ``event`` as it is at the call: later changes to what it contains (the items of
        a response still streaming) must not show in what was sent."""
        ...


@dataclass
class ResponseParams:
    """A ``response.create``'s ``response`` object, validated, with the session's defaults."""

    in_conversation: bool
    input_items: list[dict[str, Any]] | None
    output_modalities: list[str]
    max_output_tokens: int | str
    tools: list[dict[str, Any]]
    tool_choice: Any
    voice: Any
    output_format: dict[str, Any]
    metadata: dict[str, Any] | None


def parse_response_params(
    raw: object, session: dict[str, Any], conversation: Conversation, ids: IdFactory
) -> ResponseParams:
    """Validate ``response.create``'s ``response``; fill in what it leaves to the session."""
    given = (
        {} if raw is None else given_fields(expect_object(raw, "response"), "response", "response")
    )
    in_conversation = True
    if "conversation" in given:
        value = given["conversation"]
        if value is not None:
            in_conversation = (
                expect_choice(value, "response.conversation", ["auto", "none"]) == "auto"
            )
    input_items: list[dict[str, Any]] | None = None
    if given.get("input") is not None:
        input_items = []
        for i, entry in enumerate(expect_list(given["input"], "response.input")):
            param = f"response.input[{i}]"
            if isinstance(entry, dict) and entry.get("type") == "item_reference":
                check_keys(entry, {"type", "id"}, param)
                ref = conversation.get(str(expect_str(entry.get("id"), f"{param}.id")))
                if ref is None:
                    raise ClientError(
                        "invalid_value",
                        f"Invalid '{param}.id': no item with id '{entry.get('id')}'.",
                        param=f"{param}.id",
                    )
                input_items.append(json_copy(ref))
            else:
                input_items.append(normalize_item(entry, ids.item, param))
    if "instructions" in given:
        expect_str(given["instructions"], "response.instructions")
    if "parallel_tool_calls" in given:
        expect_bool(given["parallel_tool_calls"], "response.parallel_tool_calls")
    if "reasoning" in given:
        given_fields(
            expect_object(given["reasoning"], "response.reasoning"),
            "response.reasoning",
            "response.reasoning",
        )
    if "prompt" in given and given["prompt"] is not None:
        expect_object(given["prompt"], "response.prompt")
    metadata = None
    if given.get("metadata") is not None:
        metadata = expect_object(given["metadata"], "response.metadata")
        for key, value in metadata.items():
            expect_str(value, f"response.metadata.{key}")
    output = session.get("audio", {}).get("output", {})
    voice = output.get("voice", "alloy")
    fmt = output.get("format", {"type": "audio/pcm", "rate": 24000})
    if "audio" in given:
        audio = given_fields(
            expect_object(given["audio"], "response.audio"), "response.audio", "response.audio"
        )
        out = given_fields(
            expect_object(audio.get("output", {}), "response.audio.output"),
            "response.audio.output",
            "response.audio.output",
        )
        if "voice" in out:
            voice = check_voice(out["voice"], "response.audio.output.voice")
    if isinstance(voice, dict):
        # A custom voice ({"id": ...}): the SDK types a response's voice as a string only.
        voice = voice["id"]
        if "format" in out:
            fmt = check_audio_format(out["format"], "response.audio.output.format")
    return ResponseParams(
        in_conversation=in_conversation,
        input_items=input_items,
        output_modalities=(
            check_output_modalities(given["output_modalities"], "response.output_modalities")
            if "output_modalities" in given
            else list(session.get("output_modalities", ["audio"]))
        ),
        max_output_tokens=(
            check_max_output_tokens(given["max_output_tokens"], "response.max_output_tokens")
            if "max_output_tokens" in given
            else session.get("max_output_tokens", "inf")
        ),
        tools=(
            check_tools(given["tools"], "response.tools")
            if "tools" in given
            else list(session.get("tools") or [])
        ),
        tool_choice=(
            check_tool_choice(given["tool_choice"], "response.tool_choice")
            if "tool_choice" in given
            else session.get("tool_choice", "auto")
        ),
        voice=voice,
        output_format=fmt,
        metadata=metadata,
    )


def default_reply(context: list[dict[str, Any]]) -> Reply:
    """The reply when nothing is scripted: deterministic, derived from the last item.

    - after a ``function_call_output``: ``"The tool returned: <output>"``;
    - after a user message with text (or a transcript): ``"You said: <text>"``;
    - otherwise :data:`DEFAULT_TEXT`.
    """
    last = context[-1] if context else None
    if last is not None and last.get("type") == "function_call_output":
        return Reply((Text(f"The tool returned: {last.get('output', '')}"),))
    if last is not None and last.get("type") == "message" and last.get("role") == "user":
        said = text_of(last)
        if said:
            return Reply((Text(f"You said: {said}"),))
    return Reply((Text(DEFAULT_TEXT),))


def text_chunks(text: str) -> list[str]:
    """Split like the service's deltas: ``"Your name is"`` → ``["Your", " name", " is"]``."""
    return re.findall(r"\s*\S+|\s+", text) or ([text] if text else [])


def _synth(text: str, fmt: dict[str, Any]) -> bytes:
    """Deterministic stand-in speech: a quiet tone, 20 ms per character (min 100 ms)."""
    ms = max(100, SYNTH_MS_PER_CHAR * len(text))
    if fmt.get("type", "audio/pcm") == "audio/pcm":
        return pcm16_tone(ms, amplitude=3000)
    # G.711 silence for the 8 kHz formats.
    return (b"\xff" if fmt["type"] == "audio/pcmu" else b"\xd5") * (8 * ms)


@dataclass
class OpenItem:
    """An output item while it streams: the one place its content is kept as it grows.

    ``part`` says what the item carries (``"text"``, ``"audio"``, ``"function"``); ``text``,
    ``transcript`` and ``audio_ms`` grow with each delta; ``stored`` is the content part held
    in the item (and so in the conversation) from ``content_part.added`` on, updated as the
    deltas go out, so that a retrieve or a truncate mid-stream sees what was sent so far.
    """

    item: dict[str, Any]
    output_index: int
    part: str
    status: str = "completed"
    text: str = ""
    transcript: str = ""
    audio_ms: int = 0
    stored: dict[str, Any] | None = None


class ResponseRun:
    """One response, streamed by :meth:`run` in its own task.

    Several outputs stream as the service streams them (recording
    ``test_parity_ws__test_text_tool_round_parity-openai-current``): each output item is added
    and its deltas sent in turn, the next one while the previous is still open; then every
    item's done events follow, in output order; ``response.done`` lists every output in order.
    """

    def __init__(
        self,
        host: ResponseHost,
        params: ResponseParams,
        reply: Reply,
        *,
        pacing: Pacing,
        before_output: list[dict[str, Any]] | None = None,
        on_approval_request: Callable[[str, McpCall, tuple[Output, ...]], None] | None = None,
    ) -> None:
        self.host = host
        # Told of each MCP approval request sent: its id, the call, the outputs held back.
        self.on_approval_request = on_approval_request
        self.id = host.ids.response()
        self.params = params
        self.reply = reply
        self.pacing = pacing
        # Input transcription events of the user turn this response answers: sent paced with
        # the response's own deltas, as recorded (see _send_transcription).
        self.before_output = deque(before_output or [])
        self.status = "in_progress"
        self.status_details: dict[str, Any] | None = None
        self.output: list[dict[str, Any]] = []
        self.done = anyio.Event()
        self._scope = anyio.CancelScope()
        self._cancel_reason: str | None = None
        self._open: list[OpenItem] = []
        self._deltas = 0
        self._usage_out_text = 0
        self._usage_out_audio_ms = 0

    # -- control -----------------------------------------------------------------------------

    def cancel(self, reason: str = "client_cancelled") -> None:
        """Stop streaming; the run ends with ``response.done`` status ``cancelled``."""
        if self._cancel_reason is None and not self.done.is_set():
            self._cancel_reason = reason
            self._scope.cancel()

    @property
    def in_conversation(self) -> bool:
        return self.params.in_conversation

    # -- event helpers -----------------------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        # No copy: send_event sends the event as it is now, although the items it shows
        # change as the response streams on.
        await self.host.send_event(event)

    def _response(self) -> dict[str, Any]:
        fmt = self.params.output_format
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": self.status,
            "status_details": self.status_details,
            "output": self.output,  # a snapshot is sent (ResponseHost.send_event)
            "conversation_id": self.host.conversation.id if self.in_conversation else None,
            "output_modalities": self.params.output_modalities,
            "max_output_tokens": self.params.max_output_tokens,
            "audio": {"output": {"format": fmt, "voice": self.params.voice}},
            "usage": self.usage() if self.status != "in_progress" else None,
            "metadata": self.params.metadata,
        }

    def _context(self) -> list[dict[str, Any]]:
        if self.params.input_items is not None:
            return self.params.input_items
        return self.host.conversation.items

    def usage(self) -> dict[str, Any]:
        conversation = self.host.conversation
        if self.params.input_items is not None:
            # Given with the request: as long as the request, whatever the history.
            text_in = audio_in = 0
            own = {o["id"] for o in self.output}
            for item in self.params.input_items:
                if item.get("id") not in own:
                    text, audio = item_tokens(item, conversation.audio_ms.get(item["id"], 0))
                    text_in += text
                    audio_in += audio
        else:
            # Running totals of the conversation, less this response's own output.
            text_in, audio_in = conversation.token_totals()
            for output in self.output:
                text, audio = conversation.tokens_of(output["id"])
                text_in -= text
                audio_in -= audio
        text_in += tokens(str(self.host.session.get("instructions", "")))
        audio_out = math.ceil(self._usage_out_audio_ms / 50)
        total_in = text_in + audio_in
        total_out = self._usage_out_text + audio_out
        return {
            "total_tokens": total_in + total_out,
            "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": self._usage_out_text,
                "audio_tokens": audio_out,
            },
        }

    async def _pace(self) -> None:
        stall = self.reply.stall_after
        if stall is not None and self._deltas >= stall:
            await anyio.sleep_forever()
        self._deltas += 1
        if self.before_output and self._deltas % TRANSCRIPTION_EVERY == 0:
            await self._send_transcription(1)
        if self.pacing.delta_delay > 0:
            await anyio.sleep(self.pacing.delta_delay)
        elif self._deltas % YIELD_EVERY == 0:
            # Let the connection receive (a response.cancel, say), and other connections run,
            # every few deltas; not after each, so that a burst of deltas leaves in one write.
            await anyio.lowlevel.checkpoint()

    async def _send_transcription(self, count: int | None = None) -> None:
        """Send the next ``count`` input transcription events (all that are left: ``None``).

        In the recordings, a few transcription deltas follow ``response.created``, the rest
        interleave with the output deltas, and ``.completed`` arrives partway through the
        response, before its output ends.
        """
        pending = self.before_output
        for _ in range(len(pending) if count is None else min(count, len(pending))):
            # Shielded: a cancelled response still delivers the user's transcription.
            with anyio.CancelScope(shield=True):
                await self._emit(pending.popleft())

    async def _after_audio(self, audio_ms: int) -> None:
        if self.pacing.realtime_audio and audio_ms:
            await anyio.sleep(audio_ms / 1000)

    def _ids(self, open_item: OpenItem, content: bool = True) -> dict[str, Any]:
        ids: dict[str, Any] = {
            "response_id": self.id,
            "item_id": open_item.item["id"],
            "output_index": open_item.output_index,
        }
        if content:
            ids["content_index"] = 0
        return ids

    async def _add_item(self, item: dict[str, Any], part: str) -> OpenItem:
        self.output.append(item)
        open_item = OpenItem(item, len(self.output) - 1, part)
        self._open.append(open_item)
        await self._emit(
            {
                "type": "response.output_item.added",
                "response_id": self.id,
                "output_index": open_item.output_index,
                "item": item,
            }
        )
        if self.in_conversation:
            previous = self.host.conversation.insert(item)
            await self._emit(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
            )
        return open_item

    def _message(self) -> dict[str, Any]:
        return {
            "id": self.host.ids.item(),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }

    def _store_part(self, opened: OpenItem, part: dict[str, Any]) -> dict[str, Any]:
        opened.item["content"] = [part]
        opened.stored = part
        self.host.conversation.touch(opened.item["id"])
        return part

    # -- streaming ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Stream the whole response: ``response.created`` ... ``response.done``."""
        try:
            await self._emit({"type": "response.created", "response": self._response()})
            await self._send_transcription(TRANSCRIPTION_AHEAD)
            with self._scope:
                await self._stream()
            if self._cancel_reason is not None:
                await self._close_open(final=False)
                self.status = "cancelled"
                self.status_details = {"type": "cancelled", "reason": self._cancel_reason}
            await self._send_transcription()
            await self._emit({"type": "response.done", "response": self._response()})
        finally:
            self.done.set()

    async def _stream(self) -> None:
        limit = self.params.max_output_tokens
        spoken = self.params.output_modalities == ["audio"]
        text_tokens = 0
        truncated = False
        for index, output in enumerate(self.reply.outputs):
            if isinstance(output, McpCall):
                if output.approval_request_id is None and self._needs_approval(output):
                    # The response ends with the request; the call and what follows it wait
                    # for the app's answer.
                    await self._stream_approval_request(output, self.reply.outputs[index + 1 :])
                    break
                await self._stream_mcp_call(output)
                continue
            if isinstance(output, FunctionCall):
                await self._stream_function_call(output)
                continue
            if isinstance(output, Audio):
                await self._stream_audio(output.pcm, output.transcript)
                continue
            text = output.text
            if isinstance(limit, int) and text_tokens + tokens(text) > limit:
                text = text[: max(0, limit - text_tokens) * 4]
                truncated = True
            text_tokens += tokens(text)
            if spoken:
                opened = await self._stream_audio(_synth(text, self.params.output_format), text)
            else:
                opened = await self._stream_text(text)
            if truncated:
                # The model ran out of tokens: this item is cut short, and nothing follows.
                opened.status = "incomplete"
                break
        await self._close_open(final=True)
        if truncated:
            self.status = "incomplete"
            self.status_details = {"type": "incomplete", "reason": "max_output_tokens"}
        else:
            self.status = "completed"

    async def _stream_text(self, text: str) -> OpenItem:
        opened = await self._add_item(self._message(), "text")
        # The item's content exists from content_part.added on, as on the service: a retrieve
        # mid-stream shows what was streamed so far.
        stored = self._store_part(opened, {"type": "output_text", "text": ""})
        await self._emit(
            {
                "type": "response.content_part.added",
                **self._ids(opened),
                "part": {"type": "text", "text": ""},
            }
        )
        for chunk in text_chunks(text):
            await self._pace()
            opened.text += chunk
            self._usage_out_text += tokens(chunk)
            stored["text"] = opened.text
            self.host.conversation.touch(opened.item["id"])
            await self._emit(
                {"type": "response.output_text.delta", **self._ids(opened), "delta": chunk}
            )
        return opened

    async def _stream_audio(self, pcm: bytes, transcript: str) -> OpenItem:
        opened = await self._add_item(self._message(), "audio")
        item_id = opened.item["id"]
        # From content_part.added on, the item holds the audio and transcript sent so far, so
        # that a truncate (a barge-in) or a retrieve works mid-stream.
        stored = self._store_part(opened, {"type": "output_audio", "transcript": ""})
        conversation = self.host.conversation
        await self._emit(
            {
                "type": "response.content_part.added",
                **self._ids(opened),
                "part": {"type": "audio", "transcript": ""},
            }
        )
        per_ms = bytes_per_ms(self.params.output_format)
        size = per_ms * AUDIO_CHUNK_MS
        audio_chunks = [pcm[i : i + size] for i in range(0, len(pcm), size)]
        words = text_chunks(transcript)
        for i in range(max(len(audio_chunks), len(words))):
            if i < len(words):
                await self._pace()
                opened.transcript += words[i]
                self._usage_out_text += tokens(words[i])
                if item_id not in conversation.truncated:
                    stored["transcript"] = opened.transcript
                    conversation.touch(item_id)
                await self._emit(
                    {
                        "type": "response.output_audio_transcript.delta",
                        **self._ids(opened),
                        "delta": words[i],
                    }
                )
            if i < len(audio_chunks):
                await self._pace()
                chunk_ms = len(audio_chunks[i]) // per_ms
                opened.audio_ms += chunk_ms
                self._usage_out_audio_ms += chunk_ms
                if item_id not in conversation.truncated:
                    conversation.set_audio_ms(item_id, opened.audio_ms)
                await self._emit(
                    {
                        "type": "response.output_audio.delta",
                        **self._ids(opened),
                        "delta": base64.b64encode(audio_chunks[i]).decode("ascii"),
                    }
                )
                await self._after_audio(chunk_ms)
        return opened

    async def _stream_function_call(self, call: FunctionCall) -> OpenItem:
        call_id = call.call_id or self.host.ids.call()
        item: dict[str, Any] = {
            "id": self.host.ids.item(),
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        opened = await self._add_item(item, "function")
        await self._stream_arguments(
            opened, item, call.arguments, "response.function_call_arguments.delta", call_id=call_id
        )
        return opened

    async def _stream_arguments(
        self, opened: OpenItem, item: dict[str, Any], arguments: str, delta_type: str, **extra: Any
    ) -> None:
        for chunk in _argument_chunks(arguments):
            await self._pace()
            item["arguments"] += chunk
            self.host.conversation.touch(item["id"])
            self._usage_out_text += tokens(chunk)
            await self._emit(
                {"type": delta_type, **self._ids(opened, content=False), **extra, "delta": chunk}
            )

    def _needs_approval(self, call: McpCall) -> bool:
        config = mcp_tools(self.params.tools).get(call.server_label, {})
        return requires_approval(config, {"name": call.name})

    async def _stream_approval_request(self, call: McpCall, held: tuple[Output, ...]) -> None:
        """An ``mcp_approval_request`` item, whole: it has no deltas (inferred)."""
        await self._close_open(final=True)
        item = {
            "id": self.host.ids.item(),
            "type": "mcp_approval_request",
            "server_label": call.server_label,
            "name": call.name,
            "arguments": call.arguments,
        }
        await self._add_item(item, "mcp_approval_request")
        await self._close_open(final=True)
        if self.on_approval_request is not None:
            self.on_approval_request(item["id"], call, held)

    async def _stream_mcp_call(self, call: McpCall) -> None:
        """An ``mcp_call`` item: its arguments stream, then the server runs it (the outputs
        before it are finished first: the model waits for the tool's result)."""
        await self._close_open(final=True)
        item: dict[str, Any] = {
            "id": self.host.ids.item(),
            "type": "mcp_call",
            "server_label": call.server_label,
            "name": call.name,
            "arguments": "",
            "approval_request_id": call.approval_request_id,
            "output": None,
            "error": None,
        }
        opened = await self._add_item(item, "mcp_call")
        await self._stream_arguments(
            opened, item, call.arguments, "response.mcp_call_arguments.delta"
        )
        await self._emit(
            {
                "type": "response.mcp_call_arguments.done",
                **self._ids(opened, content=False),
                "arguments": item["arguments"],
            }
        )
        where = {"item_id": item["id"], "output_index": opened.output_index}
        await self._emit({"type": "response.mcp_call.in_progress", **where})
        error = call.error_object()
        if error is None:
            item["output"] = call.output if call.output is not None else ""
            await self._emit({"type": "response.mcp_call.completed", **where})
        else:
            item["error"] = error
            await self._emit({"type": "response.mcp_call.failed", **where})
        self.host.conversation.touch(item["id"])
        await self._close_open(final=True)

    async def _close_open(self, *, final: bool) -> None:
        """Send the done events of every open item, in output order: as they are when the
        response completes, or ``incomplete`` when it was cut short."""
        await self._send_transcription()
        while self._open:
            opened = self._open.pop(0)
            await self._finish(opened, opened.status if final else "incomplete")

    async def _finish(self, opened: OpenItem, status: str) -> None:
        item = opened.item
        if opened.part == "text":
            await self._emit(
                {"type": "response.output_text.done", **self._ids(opened), "text": opened.text}
            )
            await self._emit(
                {
                    "type": "response.content_part.done",
                    **self._ids(opened),
                    "part": {"type": "text", "text": opened.text},
                }
            )
            if opened.stored is not None:
                opened.stored["text"] = opened.text
        elif opened.part == "audio":
            await self._emit({"type": "response.output_audio.done", **self._ids(opened)})
            await self._emit(
                {
                    "type": "response.output_audio_transcript.done",
                    **self._ids(opened),
                    "transcript": opened.transcript,
                }
            )
            await self._emit(
                {
                    "type": "response.content_part.done",
                    **self._ids(opened),
                    "part": {"type": "audio", "transcript": opened.transcript},
                }
            )
            if opened.stored is not None and item["id"] not in self.host.conversation.truncated:
                opened.stored["transcript"] = opened.transcript
        elif opened.part == "function":
            await self._emit(
                {
                    "type": "response.function_call_arguments.done",
                    **self._ids(opened, content=False),
                    "call_id": item["call_id"],
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        if opened.part in ("text", "audio", "function"):
            item["status"] = status  # MCP items have no status
        self.host.conversation.touch(item["id"])
        if self.in_conversation:
            await self._emit(
                {
                    "type": "conversation.item.done",
                    "previous_item_id": self.host.conversation.previous_id(item["id"]),
                    "item": item,
                }
            )
        await self._emit(
            {
                "type": "response.output_item.done",
                "response_id": self.id,
                "output_index": opened.output_index,
                "item": item,
            }
        )


def _argument_chunks(arguments: str) -> list[str]:
    """Argument deltas of a few characters, like the service's."""
    return [arguments[i : i + 8] for i in range(0, len(arguments), 8)] or [""]
