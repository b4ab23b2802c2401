"""The ``realtime`` command as a newcomer meets it: usage errors, keys, stdin, logs."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

import realtime
from fakes import FakeRealtimeServer
from fakes._threaded import serve_in_thread
from realtime.cli._cli import main
from tests._served import announced_url, realtime_command


def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv),
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin) if stdin is not None else None,
    )
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_a_loopback_url_needs_no_key() -> None:
    fake = FakeRealtimeServer()
    with serve_in_thread(fake) as url:
        code, out, err = run("chat", "hi", "--url", url)
    assert (code, out) == (0, "You said: hi\n"), err
    assert fake.connections[0].headers["authorization"].startswith("Bearer sk-")


def test_a_refused_key_says_so_without_none() -> None:
    fake = FakeRealtimeServer(api_key="sk-right")
    with serve_in_thread(fake) as url:
        code, _, err = run("chat", "hi", "--url", url)
    assert code == 4, err
    assert "invalid_api_key" in err and "None" not in err


async def test_a_server_error_without_a_code_shows_no_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No key at all to a server that wants one: its error has no code.
    from realtime.transports import MemoryTransport

    fake = FakeRealtimeServer()
    config = realtime.ModelConfig(url="ws://127.0.0.1:9/v1/realtime")
    with pytest.raises(realtime.SessionError) as raised:
        async with realtime.Session(config, transport=MemoryTransport(fake)):
            pass  # pragma: no cover - the session is refused
    assert "Missing bearer" in str(raised.value) and "None" not in str(raised.value)


def test_audio_out_is_checked_before_connecting(tmp_path: Path) -> None:
    unreachable = "ws://127.0.0.1:9/v1/realtime"  # exit 3 if it were tried
    code, _, err = run(
        "chat", "hi", "--url", unreachable, "--audio-out", str(tmp_path / "no/x.wav")
    )
    assert code == 2 and "no such directory" in err
    code, _, err = run("chat", "hi", "--url", unreachable, "--audio-out", str(tmp_path))
    assert code == 2 and "is a directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_audio_out_in_a_read_only_folder(tmp_path: Path) -> None:  # pragma: no cover - not root
    tmp_path.chmod(0o500)
    try:
        code, _, err = run("chat", "hi", "--audio-out", str(tmp_path / "x.wav"))
    finally:
        tmp_path.chmod(0o700)
    assert code == 2 and "not writable" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["chat", ""], "the prompt is empty"),
        (["chat", "  "], "the prompt is empty"),
        (["chat", "hi", "--timeout", "-1"], "positive number of seconds"),
        (["chat", "hi", "--timeout", "soon"], "not a number of seconds"),
        (["chat", "hi", "--url", "notaurl"], "is not a ws:// or wss:// URL"),
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert says in err + capsys.readouterr().err


def test_the_prompt_comes_from_stdin_when_piped() -> None:
    code, out, _ = run("chat", stdin="Tell me a joke\n")
    assert (code, out) == (0, "You said: Tell me a joke\n")
    code, _, err = run("chat", stdin="\n")
    assert code == 2 and "stdin was empty" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"realtime-wire {realtime.__version__}\n"


def test_host_and_port_show_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["fake", "serve", "--help"], ["replay", "--help"]):
        assert main(argv) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: 127.0.0.1)" in text and "(default: 8765)" in text


@contextmanager
def _replaying(path: Path) -> Iterator[str]:
    replay = FakeRealtimeServer.replay(path)
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(replay.serve()) as url,
    ):
        yield url


def test_a_recording_of_the_embedded_fake_replays_and_says_when_it_has_no_audio(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "chat.jsonl"
    code, out, _ = run("chat", "hi", "--record", str(recording))
    assert (code, out) == (0, "You said: hi\n")
    meta = json.loads(recording.read_text().splitlines()[0])
    assert meta["url"].startswith("ws://127.0.0.1:") and "api.openai.com" not in meta["url"]

    wav = tmp_path / "reply.wav"
    with _replaying(recording) as url:
        code, out, err = run("chat", "hi", "--url", url, "--audio-out", str(wav))
    assert code == 1 and out == "You said: hi\n"
    assert "the response carried no audio" in err and "wrote" not in err
    assert not wav.exists()


def _log_after_ctrl_c(process: subprocess.Popen[str]) -> list[str]:
    """Stop the command with Ctrl-C: it exits 0; the lines it logged to stderr."""
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    return process.stderr.read().splitlines()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_fake_serve_logs_each_connection_and_close() -> None:
    with realtime_command("fake", "serve", "--port", "0") as process:
        code, _, err = run("chat", "hi", "--url", announced_url(process))
        assert code == 0, err
        log = _log_after_ctrl_c(process)
    assert "[1] connection: /v1/realtime?model=gpt-realtime" in log
    assert "[1] closed by the client: 1000" in log


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
def test_replay_logs_a_divergence(tmp_path: Path) -> None:
    from websockets.sync.client import connect

    recording = tmp_path / "chat.jsonl"
    assert run("chat", "hi", "--record", str(recording))[0] == 0
    with realtime_command("replay", str(recording), "--port", "0") as process:
        url = announced_url(process) + "?model=gpt-realtime"
        with connect(url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
            ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while json.loads(ws.recv())["type"] != "error":
                pass
        log = _log_after_ctrl_c(process)
    assert log[0] == "[1] connection: /v1/realtime?model=gpt-realtime"
    assert log[1].startswith("[1] failure: replay diverged at step")
    assert log[2] == "[1] closed by the server: 1011 replay diverged"
