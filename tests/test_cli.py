"""The ``realtime`` command, in-process and as a subprocess."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from realtime.cli._cli import main, read_wav, resample

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_chat_talks_to_the_embedded_fake() -> None:
    code, out, err = run("chat", "Tell me a joke")
    assert code == 0
    assert out == "You said: Tell me a joke\n"
    assert "embedded fake" in err
    summary = err.strip().splitlines()[-1]
    assert "events" in summary and "first delta after" in summary and "tokens:" in summary


def test_chat_audio_out_writes_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "reply.wav"
    code, out, _ = run("chat", "hi", "--audio-out", str(path))
    assert code == 0 and out == "You said: hi\n"  # the transcript
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        assert wav.getnframes() > 0


def test_chat_audio_in_resamples_and_shows_progress(tmp_path: Path) -> None:
    path = tmp_path / "in.wav"
    with wave.open(str(path), "wb") as wav:  # 8-bit stereo at 48 kHz, one second
        wav.setnchannels(2)
        wav.setsampwidth(1)
        wav.setframerate(48_000)
        wav.writeframes(bytes([128, 128]) * 48_000)
    assert len(read_wav(path)) == 48_000  # one second of 24 kHz 16-bit mono
    code, out, err = run("chat", "--audio-in", str(path))
    assert code == 0 and out.strip()
    assert "uploading audio: 100%" in err


def test_resample_is_linear() -> None:
    assert resample([0, 100], 1, 2) == [0, 50, 100, 100]
    assert resample([0, 10, 20, 30], 2, 1) == [0, 20]


def test_bad_audio_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "not.wav"
    path.write_bytes(b"RIFF....garbage")
    code, _, err = run("chat", "--audio-in", str(path))
    assert code == 2 and "unsupported audio" in err
    code, _, err = run("chat", "--audio-in", str(tmp_path / "missing.wav"))
    assert code == 2 and "no such file" in err


def test_unreachable_server_exit_code() -> None:
    code, _, err = run("chat", "hi", "--url", "ws://127.0.0.1:1/v1/realtime", "--timeout", "5")
    assert code == 3 and "cannot connect" in err


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["chat", "--help"], ["fake", "serve", "--help"], ["replay", "-h"]):
        assert main(argv) == 0
        assert "usage: realtime" in capsys.readouterr().out
    assert main([]) == 2


def test_bad_script_and_recording(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"txt": "typo"}]))
    code, _, err = run("fake", "serve", "--script", str(script))
    assert code == 2 and "script[0]" in err
    code, _, err = run("replay", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in err


def test_python_m_realtime_chat_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "realtime", "chat", "hi"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "You said: hi\n"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_fake_serve_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "Scripted."}]))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime", "fake", "serve", "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fake Realtime server listening on ws://127.0.0.1:")
        url = line.split()[-1]
        chat = subprocess.run(
            [sys.executable, "-m", "realtime", "chat", "hi", "--url", url],
            capture_output=True,
            text=True,
            env=dict(env, OPENAI_API_KEY="sk-test"),
            cwd=ROOT,
            timeout=60,
        )
        assert chat.returncode == 0, chat.stderr
        assert chat.stdout == "Scripted.\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        # Unclosed pipes are a ResourceWarning, an error under filterwarnings = ["error"].
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
