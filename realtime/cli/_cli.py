"""The ``realtime`` command: chat with a model (or the embedded fake), serve the fake, replay.

Exit codes: 0 success, 1 the server reported an error or the response failed, 2 bad usage or
a bad input file, 3 the server could not be reached or refused the session, 4 the key was
rejected, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import anyio

__all__ = ["main"]

RATE = 24_000

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CONNECT, EXIT_AUTH, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# -- WAV ---------------------------------------------------------------------------------


def read_wav(path: str | Path, rate: int = RATE) -> bytes:
    """Read a PCM WAV file as 16-bit mono little-endian at ``rate`` Hz.

    Channels are averaged; other rates are resampled linearly.

    Raises:
        CliError: The file is missing or not an uncompressed 8/16/24/32-bit PCM WAV.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, source_rate = (
                wav.getsampwidth(),
                wav.getnchannels(),
                wav.getframerate(),
            )
            frames = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", EXIT_USAGE) from None
    except (wave.Error, EOFError) as exc:
        raise CliError(
            f"{path}: unsupported audio ({exc}); expected an uncompressed PCM WAV", EXIT_USAGE
        ) from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}", EXIT_USAGE) from None
    if width not in (1, 2, 3, 4) or channels < 1 or source_rate < 1:
        raise CliError(f"{path}: unsupported sample width {width * 8} bit", EXIT_USAGE)
    samples = _to_int16(frames, width)
    if channels > 1:
        samples = [
            sum(samples[i : i + channels]) // channels for i in range(0, len(samples), channels)
        ]
    if source_rate != rate:
        samples = resample(samples, source_rate, rate)
    out = array("h", samples)
    if sys.byteorder == "big":  # pragma: no cover - WAV and the API are little-endian
        out.byteswap()
    return out.tobytes()


def _to_int16(frames: bytes, width: int) -> list[int]:
    if width == 2:
        data = array("h")
        data.frombytes(frames[: len(frames) - len(frames) % 2])
        if sys.byteorder == "big":  # pragma: no cover
            data.byteswap()
        return data.tolist()
    if width == 1:  # 8-bit WAV is unsigned
        return [(b - 128) << 8 for b in frames]
    return [
        int.from_bytes(frames[i : i + width], "little", signed=True) >> (8 * (width - 2))
        for i in range(0, len(frames) - width + 1, width)
    ]


def resample(samples: Sequence[int], source: int, target: int) -> list[int]:
    """Resample by linear interpolation (good enough for speech input)."""
    if not samples or source == target:
        return list(samples)
    count = max(1, round(len(samples) * target / source))
    step = source / target
    last = len(samples) - 1
    out: list[int] = []
    for n in range(count):
        position = n * step
        i = int(position)
        if i >= last:
            out.append(samples[last])
            continue
        frac = position - i
        out.append(round(samples[i] + (samples[i + 1] - samples[i]) * frac))
    return out


def write_wav(path: str | Path, pcm: bytes, rate: int = RATE) -> None:
    """Write 16-bit mono little-endian PCM as a WAV file.

    Raises:
        CliError: The file cannot be written.
    """
    try:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(pcm)
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror or exc}", EXIT_USAGE) from None


# -- fake scripts ------------------------------------------------------------------------


def load_script(path: str | Path) -> tuple[list[Any], list[Any]]:
    """Read a fake-server script file: a JSON list of STEPs (replies and transcripts, used in
    order), or ``{"script": [STEP, ...], "rules": [rule, ...]}``.

    A STEP is ``{"text": ...}``, ``{"audio_base64": ..., "transcript"?: ...}``,
    ``{"audio_wav": "file.wav", "transcript"?: ...}`` (relative to the script's directory),
    ``{"function_call": {"name", "arguments", "call_id"?}}``, ``{"outputs": [STEP, ...]}`` or
    ``{"transcribe": "..."}``; a reply may add ``"stall_after": n``. A rule is
    ``{"when": {"contains": ...} | {"tool_output_of": ...}, "reply": STEP, "times"?: n}``.

    Returns:
        The steps and the rules, ready for :func:`apply_script`.

    Raises:
        CliError: The file is missing or not a valid script (the message says where).
    """
    from fakes._steps import StepError, parse_document

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"{path}: no such file", EXIT_USAGE) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: not a JSON script: {exc}", EXIT_USAGE) from None
    try:
        steps, rules = parse_document(data, read_wav=read_wav, base=Path(path).parent)
    except StepError as exc:
        raise CliError(f"{path}: {exc}", EXIT_USAGE) from None
    return list(steps), list(rules)


def apply_script(fake: Any, script: tuple[list[Any], list[Any]]) -> None:
    """Queue a loaded script's steps and add its rules on a ``FakeRealtimeServer``."""
    from fakes._script import Transcript

    steps, rules = script
    for step in steps:
        if isinstance(step, Transcript):
            fake.script.transcripts.append(step)
        else:
            fake.script.replies.append(step)
    fake.script.rules.extend(rules)


# -- commands ----------------------------------------------------------------------------


def _progress(err: TextIO) -> Any:
    def show(sent: int, total: int) -> None:
        err.write(f"\ruploading audio: {sent * 100 // total:3d}% ({sent / 48_000:.1f} s)")
        if sent >= total:
            err.write("\n")
        err.flush()

    return show


def _check_audio_out(path: str) -> None:
    """Fail before connecting when the WAV could not be written afterwards."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise CliError(f"--audio-out {path}: is a directory", EXIT_USAGE)
    if not folder.is_dir():
        raise CliError(f"--audio-out {path}: no such directory {str(folder)!r}", EXIT_USAGE)
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise CliError(f"--audio-out {path}: not writable", EXIT_USAGE)


def _prompt(args: argparse.Namespace, stdin: TextIO | None) -> str | None:
    """The prompt: the argument, else stdin when it is piped; never an empty message."""
    prompt: str | None = args.prompt
    if prompt is None and args.audio_in is None and stdin is not None and not stdin.isatty():
        try:
            piped = stdin.read()
        except (OSError, ValueError):  # not readable after all (closed, or a test's stand-in)
            piped = None
        if piped is not None and not piped.strip():
            raise CliError("stdin was empty: give a prompt", EXIT_USAGE)
        if piped is not None:
            return piped.rstrip("\n")
    if prompt is not None and not prompt.strip():
        raise CliError("the prompt is empty: give a message to send", EXIT_USAGE)
    if prompt is None and args.audio_in is None:
        raise CliError("give a prompt (or pipe one on stdin), or --audio-in FILE.wav", EXIT_USAGE)
    return prompt


async def _chat(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    async with contextlib.AsyncExitStack() as stack:
        return await _chat_in(args, out, err, stack)


async def _chat_in(
    args: argparse.Namespace, out: TextIO, err: TextIO, stack: contextlib.AsyncExitStack
) -> int:
    import realtime
    from realtime._config import _is_loopback
    from realtime.transports import Transport

    prompt = _prompt(args, getattr(args, "stdin", None))
    if args.audio_out:
        _check_audio_out(args.audio_out)
    pcm_in = read_wav(args.audio_in) if args.audio_in else None
    key = os.environ.get("OPENAI_API_KEY")
    transport: Transport | None = None
    fake: Any = None
    if args.url is None and not key:
        from fakes import FakeRealtimeServer
        from realtime.transports import MemoryTransport

        fake = FakeRealtimeServer()
        err.write("(no OPENAI_API_KEY and no --url: talking to the embedded fake server)\n")
        if args.record:
            # Served on loopback, so the recording names the fake's own URL.
            url = await stack.enter_async_context(fake.serve("127.0.0.1", 0))
            config = realtime.ModelConfig(api_key="sk-embedded-fake", url=url)
        else:
            transport = MemoryTransport(fake)
            config = realtime.ModelConfig(api_key="sk-embedded-fake")
    elif args.url is not None and not key and _is_loopback(urlsplit(args.url).hostname):
        # A local server (`realtime fake serve`, `realtime replay`) wants some key, not ours.
        config = realtime.ModelConfig(api_key="sk-local-dummy", url=args.url)
    else:
        config = realtime.ModelConfig(url=args.url or realtime.DEFAULT_URL)
    if args.record:
        from realtime.transports import HttpxWsTransport

        recorder = stack.enter_context(realtime.Recorder(args.record))
        transport = recorder.transport(transport if transport is not None else HttpxWsTransport())

    counted = 0

    def count(event: object) -> None:
        nonlocal counted
        counted += 1

    audio_out = bytearray()
    first_delta: float | None = None
    usage: dict[str, Any] = {}
    status = "completed"
    failed: str | None = None
    session = realtime.Session(
        config,
        model=args.model,
        instructions=args.instructions,
        voice=args.voice,
        output_modalities=["audio"] if args.audio_out else ["text"],
        turn_detection=None,
        transport=transport,
    )
    try:
        async with session as s:
            s.connection.add_listener(count)
            started = time.monotonic()
            if pcm_in is not None:
                await s.send_audio(pcm_in, commit=True, respond=False, progress=_progress(err))
            if prompt is not None:
                await s.send_text(prompt, respond=False)
            await s.create_response()
            with anyio.fail_after(args.timeout):
                async for event in s:
                    if isinstance(event, (realtime.TextDelta, realtime.TranscriptDelta)):
                        if isinstance(event, realtime.TranscriptDelta) and event.role == "user":
                            continue
                        if first_delta is None:
                            first_delta = time.monotonic() - started
                        out.write(event.delta)
                        out.flush()
                    elif isinstance(event, realtime.AudioDelta):
                        if first_delta is None:
                            first_delta = time.monotonic() - started
                        audio_out.extend(event.pcm)
                    elif isinstance(event, realtime.Error):
                        failed = f"server error: {event.describe()}"
                        if event.code == "invalid_api_key":
                            raise CliError(failed, EXIT_AUTH)
                        break
                    elif isinstance(event, realtime.ResponseDone):
                        usage = dict(event.usage)
                        status = event.status
                        break
                    elif isinstance(event, realtime.Closed):
                        failed = f"the connection closed: {event.code} {event.reason}".strip()
                        break
    except realtime.SessionError as exc:
        code = EXIT_AUTH if "invalid_api_key" in str(exc) else EXIT_CONNECT
        raise CliError(str(exc), code) from None
    except realtime.ConnError as exc:
        message = str(exc)
        code = EXIT_AUTH if " 401" in message or "403" in message else EXIT_CONNECT
        raise CliError(f"cannot connect: {message}", code) from None
    except TimeoutError:
        raise CliError(f"no complete response within {args.timeout} s", EXIT_ERROR) from None
    out.write("\n")
    out.flush()
    if args.audio_out and audio_out:
        write_wav(args.audio_out, bytes(audio_out))
        err.write(f"wrote {len(audio_out) / 48_000:.2f} s of audio to {args.audio_out}\n")
    elif args.audio_out and failed is None:
        # A replayed text session, or a server that ignored output_modalities.
        failed = (
            f"the response carried no audio (status {status}): nothing written to "
            f"{args.audio_out}; the server answered in text, or not at all"
        )
    latency = f"{first_delta * 1000:.0f} ms" if first_delta is not None else "n/a"
    err.write(
        f"-- {counted} events, first delta after {latency}, tokens: "
        f"{usage.get('input_tokens', '?')} in / {usage.get('output_tokens', '?')} out "
        f"({usage.get('total_tokens', '?')} total), status {status}\n"
    )
    if failed is not None:
        raise CliError(failed, EXIT_ERROR)
    return EXIT_OK if status == "completed" else EXIT_ERROR


class _Watched:
    """One served connection's story, logged one line per event: open, failure, close."""

    def __init__(self, server: Any, err: TextIO | None) -> None:
        self.server = server
        self.err = err
        self.count = 0

    def log(self, line: str) -> None:
        if self.err is not None:
            self.err.write(line + "\n")
            self.err.flush()

    def install(self) -> None:
        # An instance attribute: the server's serve() hands `self.handle` to the listener.
        handle = self.server.handle

        async def logged(socket: Any) -> None:
            self.count += 1
            number = self.count
            query = "&".join(f"{k}={v}" for k, v in socket.query.items())
            self.log(f"[{number}] connection: {socket.path}{'?' + query if query else ''}")
            # A fake or a replay keeps its failures; the recording proxy has none of its own.
            seen: list[Any] = getattr(self.server, "failures", [])
            failures = len(seen)
            watched = _WatchedSocket(socket)
            try:
                await handle(watched)
            finally:
                for failure in seen[failures:]:
                    self.log(f"[{number}] failure: {str(failure).splitlines()[0]}")
                self.log(f"[{number}] {watched.ending()}")

        self.server.handle = logged


class _WatchedSocket:
    """A :class:`ServerSocket` that remembers how its connection ended."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self.path = socket.path
        self.query = socket.query
        self.headers = socket.headers
        self.answer_pings = socket.answer_pings
        self.by_server: tuple[int, str] | None = None
        self.by_client: tuple[int, str] | None = None
        self.aborted = False
        self.refused: int | None = None

    def ending(self) -> str:
        if self.refused is not None:
            return f"refused: HTTP {self.refused}"
        if self.aborted:
            return "dropped by the server (no close frame)"
        if self.by_server is not None:
            code, reason = self.by_server
            return f"closed by the server: {code} {reason}".rstrip()
        if self.by_client is not None:
            code, reason = self.by_client
            return f"closed by the client: {code} {reason}".rstrip()
        return "closed"

    async def accept(self) -> None:
        await self._socket.accept()

    async def reject(self, status: int, body: bytes = b"", *args: Any, **kwargs: Any) -> None:
        self.refused = status
        await self._socket.reject(status, body, *args, **kwargs)

    async def receive(self) -> Any:
        from realtime.transports import Close

        message = await self._socket.receive()
        if isinstance(message, Close) and self.by_server is None:
            self.by_client = (message.code, message.reason)
        return message

    async def send_text(self, text: str) -> None:
        await self._socket.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._socket.send_bytes(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.by_server is None and self.by_client is None:
            self.by_server = (code, reason)
        await self._socket.close(code, reason)

    async def abort(self) -> None:
        self.aborted = True
        await self._socket.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._socket, name)


async def _serve_forever(
    server: Any,
    host: str,
    port: int,
    out: TextIO,
    what: str,
    control: bool = False,
    err: TextIO | None = None,
) -> int:
    _Watched(server, err).install()
    try:
        async with server.serve(host, port) as url:
            out.write(f"{what} listening on {url}\n")
            if control:
                base = url.replace("ws", "http", 1).removesuffix("/v1/realtime")
                out.write(f"control plane on {base}/_fake/\n")
            out.write("(Ctrl-C to stop)\n")
            out.flush()
            await _until_interrupted()
            if err is not None:
                err.write("stopped\n")
    except OSError as exc:
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_CONNECT
        ) from None
    return EXIT_OK


async def _until_interrupted() -> None:
    """Return on Ctrl-C (or SIGTERM).

    A signal receiver, not KeyboardInterrupt: on Python 3.10, asyncio turns a KeyboardInterrupt
    that cancels the main task into a CancelledError traceback and exit code 1.
    """
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                return
    except NotImplementedError:  # pragma: no cover - Windows: KeyboardInterrupt as before
        await anyio.sleep_forever()


async def _fake_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fakes import FakeRealtimeServer
    from fakes._server import is_loopback

    if args.journal_events < 1 or args.journal_connections < 0:
        raise CliError(
            "--journal-events must be 1 or more, --journal-connections 0 or more", EXIT_USAGE
        )
    fake = FakeRealtimeServer(
        api_key=args.api_key,
        journal_events=args.journal_events,
        journal_connections=args.journal_connections,
    )
    if args.api_key is None and not is_loopback(args.host):
        raise CliError(
            f"refusing to serve the fake on {args.host}, beyond loopback, without an API key: "
            "give --api-key KEY (or set REALTIME_FAKE_API_KEY); clients and the control plane "
            "must then present it",
            EXIT_USAGE,
        )
    if args.script:
        apply_script(fake, load_script(args.script))
    return await _serve_forever(
        fake,
        args.host,
        args.port,
        out,
        "fake Realtime server",
        control=True,
        err=None if args.quiet else err,
    )


# -- realtime fake record ------------------------------------------------------------------


def _add_record_command(fake_commands: Any) -> None:
    record = fake_commands.add_parser(
        "record",
        help="a recording proxy between any client and the real service",
        description="Serve a proxy on loopback: clients in any language connect to it as to "
        "the real service (ws://127.0.0.1:PORT/v1/realtime?model=...); it connects to URL "
        "with the client's query and credentials, forwards every frame both ways unchanged, "
        "and records the session as JSON lines (credentials redacted) for `realtime replay`. "
        "A client key shorter than 20 characters (a dummy) is replaced by the upstream key.",
    )
    record.add_argument(
        "--upstream",
        required=True,
        metavar="URL",
        help="the full Realtime endpoint, e.g. wss://api.openai.com/v1/realtime",
    )
    record.add_argument("--out", required=True, metavar="FILE", help="the recording to write")
    record.add_argument("--host", default="127.0.0.1", help="a loopback address to listen on")
    record.add_argument("--port", type=int, default=8765)
    record.add_argument(
        "--upstream-key",
        metavar="KEY",
        default=None,
        help="the key for a client that sends a dummy one (default: $OPENAI_API_KEY)",
    )
    record.set_defaults(run=_fake_record)


async def _fake_record(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fakes._proxy import RecordingProxy
    from fakes._server import is_loopback

    if not is_loopback(args.host):
        raise CliError(
            f"refusing to serve the recording proxy on {args.host}: it forwards credentials, "
            "so it listens on loopback only",
            EXIT_USAGE,
        )
    key = args.upstream_key or os.environ.get("OPENAI_API_KEY") or None
    try:
        proxy = RecordingProxy(args.upstream, args.out, upstream_key=key)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    try:
        code = await _serve_forever(
            proxy, args.host, args.port, out, f"recording proxy to {args.upstream}"
        )
    finally:
        err.write(f"recorded {proxy.connections} connection(s) to {args.out}\n")
    return code  # pragma: no cover - only Ctrl-C ends it


async def _replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fakes import FakeRealtimeServer

    try:
        server = FakeRealtimeServer.replay(args.file, pace=args.pace)
    except FileNotFoundError:
        raise CliError(f"{args.file}: no such file", EXIT_USAGE) from None
    except (OSError, ValueError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return await _serve_forever(
        server, args.host, args.port, out, f"replay of {args.file}", err=None if args.quiet else err
    )


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a ws:// or wss:// URL (e.g. ws://127.0.0.1:8765/v1/realtime)"
        )
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _add_listen_options(command: argparse.ArgumentParser, host_help: str) -> None:
    command.add_argument("--host", default="127.0.0.1", help=f"{host_help} (default: %(default)s)")
    command.add_argument(
        "--port",
        type=int,
        default=8765,
        help="the TCP port to listen on; 0 picks a free one (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``realtime`` command."""
    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="realtime", description="OpenAI Realtime API client and fake server."
    )
    parser.add_argument("--version", action="version", version=f"realtime-wire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser(
        "chat",
        help="send one message, stream the reply",
        description="Send one message and print the streamed reply. Without OPENAI_API_KEY "
        "and --url, talks to the embedded fake server (no network).",
    )
    chat.add_argument(
        "prompt", nargs="?", help="the user message (read from stdin when it is piped)"
    )
    chat.add_argument(
        "--url",
        type=_url,
        help="the Realtime endpoint (ws:// or wss://); a loopback one needs no key",
    )
    chat.add_argument("--model", default=None, help="the model (default gpt-realtime)")
    chat.add_argument("--instructions", default=None, help="system instructions")
    chat.add_argument("--voice", default=None, help="output voice (with --audio-out)")
    chat.add_argument("--audio-in", metavar="FILE.wav", help="send a WAV file as input audio")
    chat.add_argument("--audio-out", metavar="FILE.wav", help="ask for audio, write it here")
    chat.add_argument("--record", metavar="FILE.jsonl", help="record the session's frames")
    chat.add_argument(
        "--timeout", type=_seconds, default=60.0, help="seconds for the reply (default: 60)"
    )
    chat.set_defaults(run=_chat)

    fake = commands.add_parser("fake", help="the fake Realtime server")
    fake_commands = fake.add_subparsers(dest="fake_command", required=True, metavar="COMMAND")
    serve = fake_commands.add_parser(
        "serve",
        help="serve the fake on a local port",
        description="Serve the fake Realtime server so apps in any language can test against "
        "it; an HTTP control plane under /_fake/ on the same port scripts, inspects, breaks, "
        "checks and resets it (see docs/testing-with-the-fake.md). Script: a JSON list of "
        'STEPs, e.g. [{"text": "Hi"}, {"function_call": {"name": "f", "arguments": {"x": 1}}}], '
        'or {"script": [...], "rules": [...]}.',
    )
    _add_listen_options(serve, "the address to listen on (beyond loopback, --api-key is required)")
    serve.add_argument(
        "--script",
        metavar="FILE",
        help='a JSON list of STEPs, or {"script": [...], "rules": [...]}',
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        default=os.environ.get("REALTIME_FAKE_API_KEY"),
        help="accept only this key (default: $REALTIME_FAKE_API_KEY, else any key); beyond "
        "loopback the control plane requires it as a bearer token too",
    )
    serve.add_argument(
        "--journal-events",
        type=int,
        default=2_000,
        metavar="N",
        help="keep at most N events per connection and direction in the journal (2000)",
    )
    serve.add_argument(
        "--journal-connections",
        type=int,
        default=20,
        metavar="M",
        help="keep the last M closed connections in the journal (20)",
    )
    serve.add_argument(
        "-q", "--quiet", action="store_true", help="no log line per connection on stderr"
    )
    serve.set_defaults(run=_fake_serve)
    _add_record_command(fake_commands)

    replay = commands.add_parser(
        "replay",
        help="serve a recorded session",
        description="Serve a recording (Recorder or shared-recordings JSON lines): each client "
        "gets the recorded server events; a client that diverges gets an error.",
    )
    replay.add_argument("file", metavar="FILE.jsonl")
    _add_listen_options(replay, "the address to listen on")
    replay.add_argument("--pace", choices=["instant", "recorded"], default="instant")
    replay.add_argument(
        "-q", "--quiet", action="store_true", help="no log line per connection on stderr"
    )
    replay.set_defaults(run=_replay)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run the ``realtime`` command; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    # Read by `chat` only when no prompt is given; a test passes its own.
    args.stdin = stdin if stdin is not None else sys.stdin
    try:
        code: int = anyio.run(args.run, args, out, err)
    except CliError as exc:
        err.write(f"realtime: error: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        err.write("\nstopped\n")
        return EXIT_OK if args.command in ("fake", "replay") else EXIT_INTERRUPTED
    return code
