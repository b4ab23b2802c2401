"""The CLI's building blocks: WAV reading, scripts, and error exits."""

from __future__ import annotations

import io
import json
import struct
import wave
from pathlib import Path
from typing import Any

import pytest

from fakes import FakeRealtimeServer
from realtime.cli._cli import CliError, apply_script, load_script, main, read_wav


def write(path: Path, *, width: int, channels: int, rate: int, frames: bytes) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setsampwidth(width)
        wav.setnchannels(channels)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def pcm16(*samples: int) -> list[int]:
    return list(struct.unpack(f"<{len(samples)}h", struct.pack(f"<{len(samples)}h", *samples)))


def as_samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def test_8_bit_is_unsigned(tmp_path: Path) -> None:
    path = write(tmp_path / "a.wav", width=1, channels=1, rate=24000, frames=bytes([128, 255, 0]))
    assert as_samples(read_wav(path)) == [0, 127 << 8, -128 << 8]


def test_24_and_32_bit_keep_the_top_16_bits(tmp_path: Path) -> None:
    frames24 = (0x123456).to_bytes(3, "little") + (-0x100000).to_bytes(3, "little", signed=True)
    path = write(tmp_path / "b.wav", width=3, channels=1, rate=24000, frames=frames24)
    assert as_samples(read_wav(path)) == [0x1234, -0x1000]
    frames32 = (0x12345678).to_bytes(4, "little")
    path = write(tmp_path / "c.wav", width=4, channels=1, rate=24000, frames=frames32)
    assert as_samples(read_wav(path)) == [0x1234]


def test_stereo_is_averaged_and_resampled(tmp_path: Path) -> None:
    frames = struct.pack("<4h", 100, 300, -100, -300)
    path = write(tmp_path / "d.wav", width=2, channels=2, rate=12000, frames=frames)
    samples = as_samples(read_wav(path))
    assert len(samples) == 4  # 2 frames at 12 kHz -> 4 at 24 kHz
    assert samples[0] == 200 and samples[-1] == -200


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"not a wav at all"])
def test_unreadable_wav_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(CliError) as info:
        read_wav(path)
    assert info.value.code == 2


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CliError) as info:
        read_wav(tmp_path)
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not a JSON script"),
        ('{"text": "x"}', "a JSON list of STEPs"),
        ('[{"nope": 1}]', r"script\[0\]: expected one kind of step"),
        ('[{"function_call": {"arguments": {}}}]', r"script\[0\].function_call: missing 'name'"),
    ],
)
def test_bad_scripts(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(CliError, match=fragment):
        load_script(path)
    with pytest.raises(CliError, match="no such file"):
        load_script(tmp_path / "missing.json")


def test_every_script_step_is_queued(tmp_path: Path) -> None:
    write(tmp_path / "reply.wav", width=2, channels=1, rate=24000, frames=b"\x00\x00" * 2400)
    script: list[dict[str, Any]] = [
        {"text": "hello"},
        {"function_call": {"name": "f", "arguments": {"a": 1}, "call_id": "call_1"}},
        {"audio_wav": "reply.wav", "transcript": "hi"},
        {"transcribe": "what the user said"},
    ]
    (tmp_path / "s.json").write_text(json.dumps(script))
    fake = FakeRealtimeServer()
    apply_script(fake, load_script(tmp_path / "s.json"))
    assert len(fake.script.replies) == 3
    with pytest.raises(AssertionError):
        fake.check()  # strict: unused steps are reported


def test_chat_against_a_refusing_url_exits_with_connect_error() -> None:
    err = io.StringIO()
    code = main(["chat", "hi", "--url", "ws://127.0.0.1:9/v1/realtime"], stderr=err)
    assert code == 3
    assert "cannot connect" in err.getvalue()


def test_bad_arguments_exit_2() -> None:
    assert main(["chat"], stderr=io.StringIO()) == 2
    assert main(["no-such-command"], stderr=io.StringIO()) == 2
