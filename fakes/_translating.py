"""The fake's answer to the client events of a live translation session
(``/v1/realtime/translations``).

Audio appended with ``session.input_audio_buffer.append`` goes through the fake's energy VAD
(server VAD defaults); when a stretch of speech ends (speech, then silence), its translation
streams: ``session.input_transcript.delta`` (only with input transcription configured),
``session.output_transcript.delta`` and ``session.output_audio.delta``, interleaved in 200 ms
frames (``elapsed_ms`` counts them from the speech's start). What it translates to is the next
``fake.translate(...)``, else a default naming the target language. ``session.close`` flushes
speech in progress, answers ``session.closed`` and closes. No recording of a translation
session exists here: the interleaving and the defaults are inferred from the API reference.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio

from ._audio import InputAudio, decode_base64_audio, pcm16_tone
from ._errors import ClientError
from ._ids import IdFactory
from ._responses import text_chunks
from ._script import Script, Translation
from ._session import invalid_value, missing_parameter, unknown_parameter
from ._translation import apply_translation_update

__all__ = ["DEFAULT_SOURCE", "TranslationBehaviour", "TranslationHost"]

DEFAULT_SOURCE = "Hello."
FRAME_MS = 200  # the translation engine's frame
_PCM = {"type": "audio/pcm", "rate": 24000}
_BYTES_PER_MS = 48
_VAD = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
}
_EVENT_FIELDS = {
    "session.update": {"type", "event_id", "session"},
    "session.input_audio_buffer.append": {"type", "event_id", "audio"},
    "session.close": {"type", "event_id"},
}


class TranslationHost(Protocol):
    """What the translation behaviour touches of its connection."""

    ids: IdFactory
    session: dict[str, Any]
    audio: InputAudio

    async def send_event(self, event: dict[str, Any]) -> dict[str, Any]: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


def synthetic_speech(text: str) -> bytes:
    """Stand-in translated speech: a quiet tone, 20 ms per character (at least one frame)."""
    return pcm16_tone(max(FRAME_MS, 20 * len(text)), amplitude=3000)


class TranslationBehaviour:
    """Default handling of the client events of one translation session."""

    def __init__(self, connection: TranslationHost, script: Script) -> None:
        self.conn = connection
        self.script = script
        self._routes: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self.session_update,
            "session.input_audio_buffer.append": self.audio_append,
            "session.close": self.session_close,
        }
        self._speech_start_ms = 0

    async def dispatch(self, event: dict[str, Any]) -> None:
        """Answer ``event`` as the service would; a refusal becomes an ``error`` event (a
        realtime session's event included: it has no meaning here)."""
        client_id = event.get("event_id")
        client_id = client_id if isinstance(client_id, str) else None
        try:
            kind = event["type"]
            if kind not in self._routes:
                raise invalid_value("type", kind, list(self._routes))
            for key in event:
                if key not in _EVENT_FIELDS[kind]:
                    raise unknown_parameter(key)
            await self._routes[kind](event)
        except ClientError as refusal:
            await self.conn.send_event(refusal.event(client_id))

    async def session_update(self, event: dict[str, Any]) -> None:
        if "session" not in event:
            raise missing_parameter("session")
        self.conn.session = apply_translation_update(self.conn.session, event["session"])
        await self.conn.send_event({"type": "session.updated", "session": self.conn.session})

    async def audio_append(self, event: dict[str, Any]) -> None:
        if "audio" not in event:
            raise missing_parameter("audio")
        pcm = decode_base64_audio(event["audio"])
        audio = self.conn.audio
        for seen in audio.append(pcm, _PCM, _VAD):
            if seen.kind == "started":
                self._speech_start_ms = seen.ms
            else:
                await self._translate()
        # Only the VAD's state matters here: drop what it has examined.
        audio.take(None, _PCM, "translation")

    async def session_close(self, event: dict[str, Any]) -> None:
        audio = self.conn.audio
        if audio.speaking:
            # The service flushes pending input audio before closing.
            audio.speaking = False
            await self._translate()
        await self.conn.send_event({"type": "session.closed"})
        await self.conn.close(1000, "")

    async def _translate(self) -> None:
        session = self.conn.session
        language = (session["audio"].get("output") or {}).get("language") or "en"
        step = self.script.next_translation() or Translation(f"({language}) {DEFAULT_SOURCE}")
        transcribe = (session["audio"].get("input") or {}).get("transcription") is not None
        source = text_chunks(step.input_transcript or DEFAULT_SOURCE) if transcribe else []
        words = text_chunks(step.output_transcript)
        pcm = step.audio if step.audio is not None else synthetic_speech(step.output_transcript)
        size = FRAME_MS * _BYTES_PER_MS
        chunks = [pcm[i : i + size] for i in range(0, len(pcm), size)]
        start = self._speech_start_ms - self._speech_start_ms % FRAME_MS
        for i in range(max(len(source), len(words), len(chunks))):
            elapsed = start + i * FRAME_MS
            if i < len(source):
                await self.conn.send_event(
                    {
                        "type": "session.input_transcript.delta",
                        "delta": source[i],
                        "elapsed_ms": elapsed,
                    }
                )
            if i < len(words):
                await self.conn.send_event(
                    {
                        "type": "session.output_transcript.delta",
                        "delta": words[i],
                        "elapsed_ms": elapsed,
                    }
                )
            if i < len(chunks):
                await self.conn.send_event(
                    {
                        "type": "session.output_audio.delta",
                        "delta": base64.b64encode(chunks[i]).decode("ascii"),
                        "elapsed_ms": elapsed,
                        "format": "pcm16",
                        "sample_rate": 24000,
                        "channels": 1,
                    }
                )
            await anyio.lowlevel.checkpoint()
