"""Input audio: buffer accounting in milliseconds, G.711 decoding, and a simple energy VAD.

Formats (as in the protocol): ``audio/pcm`` is 24 kHz 16-bit little-endian mono (48 bytes per
millisecond); ``audio/pcmu`` and ``audio/pcma`` are 8 kHz G.711 (8 bytes per millisecond).
All times are milliseconds of audio since the session's first appended byte, as the real
service counts ``audio_start_ms`` / ``audio_end_ms``.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._errors import ClientError

__all__ = [
    "FRAME_MS",
    "InputAudio",
    "VadEvent",
    "bytes_per_ms",
    "decode_base64_audio",
    "pcm16_tone",
]

FRAME_MS = 10
MIN_COMMIT_MS = 100


def bytes_per_ms(fmt: dict[str, Any]) -> int:
    return 48 if fmt.get("type", "audio/pcm") == "audio/pcm" else 8


def decode_base64_audio(data: object, param: str = "audio") -> bytes:
    if not isinstance(data, str):
        raise ClientError(
            "invalid_type", f"Invalid type for '{param}': expected a string.", param=param
        )
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError(
            "invalid_value",
            f"Invalid '{param}': the audio is not valid base64.",
            param=param,
        ) from None


def _ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


def _alaw_to_linear(byte: int) -> int:
    byte ^= 0x55
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    sample = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


_ULAW = tuple(_ulaw_to_linear(b) for b in range(256))
_ALAW = tuple(_alaw_to_linear(b) for b in range(256))


def frame_energy(frame: bytes, fmt_type: str) -> float:
    """Root-mean-square level of one frame, from 0.0 (silence) to 1.0 (full scale)."""
    if fmt_type == "audio/pcm":
        count = len(frame) // 2
        samples: Any = struct.unpack(f"<{count}h", frame[: count * 2])
    else:
        table = _ULAW if fmt_type == "audio/pcmu" else _ALAW
        samples = [table[b] for b in frame]
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0


def pcm16_tone(duration_ms: int, *, frequency: float = 440.0, amplitude: int = 8000) -> bytes:
    """A deterministic 24 kHz PCM16 sine tone (loud enough for the fake's VAD)."""
    count = duration_ms * 24
    return struct.pack(
        f"<{count}h",
        *(round(amplitude * math.sin(2 * math.pi * frequency * n / 24000)) for n in range(count)),
    )


@dataclass(frozen=True)
class VadEvent:
    """What the detector saw: ``started`` at ``ms``, or ``stopped`` at ``ms``."""

    kind: str
    ms: int


class InputAudio:
    """The input audio buffer of one session, with server VAD when configured.

    Speech is a 10 ms frame whose RMS level is at least ``threshold / 10`` of full scale (so the
    default threshold 0.5 needs about -26 dBFS). Speech starts at the first speech frame
    (reported ``prefix_padding_ms`` earlier, but not before the buffer's start); it stops once
    ``silence_duration_ms`` of non-speech followed, reported at the end of that silence, as the
    real service's ``audio_end_ms`` includes the silence duration.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.buffer_start_ms = 0  # stream time of the buffer's first byte
        self.stream_bytes = 0
        self._pending = bytearray()  # bytes not yet a whole VAD frame
        self._vad_ms = 0  # stream time up to which frames were examined
        self.speaking = False
        self.speech_start_ms = 0
        self._silence_ms = 0
        self.idle_since_ms = 0
        # The received append events whose audio is still in the buffer, with the stream
        # offset where each one's audio ends: once committed or cleared, their audio is
        # released (a long session's journal would otherwise keep every byte ever appended).
        self._holders: deque[tuple[int, dict[str, Any]]] = deque()

    def buffered_ms(self, fmt: dict[str, Any]) -> float:
        return len(self.buffer) / bytes_per_ms(fmt)

    def stream_ms(self, fmt: dict[str, Any]) -> int:
        return self.stream_bytes // bytes_per_ms(fmt)

    def append(
        self, audio: bytes, fmt: dict[str, Any], vad: dict[str, Any] | None
    ) -> list[VadEvent]:
        """Add audio; return what the detector saw in it (nothing without server VAD)."""
        self.buffer += audio
        self.stream_bytes += len(audio)
        if vad is None:
            self._vad_ms = self.stream_ms(fmt)
            self._pending.clear()
            return []
        self._pending += audio
        frame_bytes = bytes_per_ms(fmt) * FRAME_MS
        threshold = float(vad.get("threshold", 0.5) if vad.get("type") == "server_vad" else 0.5)
        prefix = int(vad.get("prefix_padding_ms", 300) if vad.get("type") == "server_vad" else 300)
        silence = int(
            vad.get("silence_duration_ms", 200) if vad.get("type") == "server_vad" else 500
        )
        events: list[VadEvent] = []
        while len(self._pending) >= frame_bytes:
            frame = bytes(self._pending[:frame_bytes])
            del self._pending[:frame_bytes]
            speech = frame_energy(frame, fmt.get("type", "audio/pcm")) >= threshold / 10
            start_ms = self._vad_ms
            self._vad_ms += FRAME_MS
            if not self.speaking:
                if speech:
                    self.speaking = True
                    self._silence_ms = 0
                    self.speech_start_ms = max(self.buffer_start_ms, start_ms - prefix)
                    events.append(VadEvent("started", self.speech_start_ms))
            elif speech:
                self._silence_ms = 0
            else:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= silence:
                    self.speaking = False
                    events.append(VadEvent("stopped", self._vad_ms))
        return events

    def hold(self, event: dict[str, Any]) -> None:
        """Note that the append ``event`` (as received) carried the latest audio."""
        self._holders.append((self.stream_bytes, event))

    def _release(self, why: str) -> None:
        """Drop the audio of the received append events that is no longer in the buffer."""
        start = self.stream_bytes - len(self.buffer)
        holders = self._holders
        while holders and holders[0][0] <= start:
            _, event = holders.popleft()
            audio = event.get("audio")
            if isinstance(audio, str):
                event["audio"] = f"<{len(audio) * 3 // 4} bytes of audio released after {why}>"

    def take(self, end_ms: int | None, fmt: dict[str, Any], why: str = "commit") -> bytes:
        """Remove and return the buffer's audio up to stream time ``end_ms`` (all if ``None``)."""
        if end_ms is None:
            taken = bytes(self.buffer)
            # A new buffer: a cleared bytearray may keep its allocation.
            self.buffer = bytearray()
            self.buffer_start_ms = self.stream_ms(fmt)
        else:
            count = max(0, (end_ms - self.buffer_start_ms) * bytes_per_ms(fmt))
            taken = bytes(self.buffer[:count])
            self.buffer = self.buffer[count:]
            self.buffer_start_ms = end_ms
        self._release(why)
        return taken

    def clear(self, fmt: dict[str, Any]) -> None:
        self.take(None, fmt, "clear")
        self.speaking = False
        self._silence_ms = 0
