"""Every benchmark in one run, as one table of ratios measured in that run.

This library on each network transport against the raw loop of that transport's library, and
against the official ``openai`` SDK, all on asyncio, over loopback, against one server process:

(a) receive: small text deltas (``response.output_text.delta``), events/s;
(b) receive: 100 ms audio deltas (6400 base64 chars), events/s;
(c) send: ``input_audio_buffer.append`` with 20 ms chunks (1280 base64 chars), events/s, until
    the server acknowledges the last one;
(d) round trip: send a small event, receive the server's answer; p50/p99 at 1 and at 100
    concurrent connections;
(e) memory per idle connection (tracemalloc, Python allocations only, over N connections).

Clients:

- ``rt/websockets``: ``realtime.connect`` over ``WebsocketsTransport``;
- ``raw websockets``: ``websockets.asyncio.client.connect`` (no keepalive, no size limit, no
  compression) + ``recv()`` + ``json.loads`` / ``json.dumps`` + ``send()``;
- ``rt/httpx-ws``: ``realtime.connect`` over ``HttpxWsTransport``;
- ``raw httpx-ws``: ``aconnect_ws`` (no keepalive) + ``receive_text()`` + ``json.loads`` /
  ``json.dumps`` + ``send_text()``;
- ``openai``: ``AsyncOpenAI(...).realtime.connect(...)``, ``recv()`` / typed ``send`` helpers.

The server (a separate process, threads, raw sockets, h11 for the upgrade) never parses more
than frame headers: floods are pre-encoded, appends are skipped unread, and every small text
frame (< 512 bytes) is answered with one pre-encoded text delta.

Run: ``python bench/run_all.py`` (about a minute; ``--quick`` for a smoke run,
``--idle-n 1000`` for the memory figure over 1,000 connections).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import json
import multiprocessing
import platform
import socket
import statistics
import struct
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import h11
import httpx
import websockets
from httpx_ws import aconnect_ws
from websockets.asyncio.client import connect as ws_connect
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage
from wsproto.utilities import generate_accept_token

import realtime
from realtime.transports import HttpxWsTransport, Transport, WebsocketsTransport

AUDIO_20MS = "A" * 1280
ASK = {"type": "input_audio_buffer.commit"}  # a small event the server answers

# -- the server (separate process) ------------------------------------------------------------


def _delta(i: int, delta: str, kind: str = "text") -> str:
    return json.dumps(
        {
            "type": f"response.output_{kind}.delta",
            "event_id": f"event_{i:020d}",
            "response_id": "resp_0123456789abcdefghij",
            "item_id": "item_0123456789abcdefghij",
            "output_index": 0,
            "content_index": 0,
            "delta": delta,
        },
        separators=(",", ":"),
    )


def _session_created() -> str:
    return json.dumps(
        {
            "type": "session.created",
            "event_id": "event_session",
            "session": {"type": "realtime", "id": "sess_1", "model": "gpt-realtime"},
        }
    )


def _frames(texts: list[str], close: bool) -> bytes:
    ws = Connection(ConnectionType.SERVER)
    parts = [ws.send(TextMessage(data=t)) for t in texts]
    if close:
        parts.append(ws.send(CloseConnection(code=1000)))
    return b"".join(parts)


def _server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def _unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big") if n else 0
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def _answer_loop(conn: socket.socket, answer: bytes) -> None:
    """Skip data frames, answer small text frames, pings and the close."""
    buf = bytearray()
    pos = 0
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            return
        buf += chunk
        out = []
        while True:
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                head = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            masked = b1 & 0x80
            end = pos + head + (4 if masked else 0) + n
            if len(buf) < end:
                break
            opcode = b0 & 0x0F
            if opcode == 0x1 and n < 512:
                out.append(answer)
            elif opcode in (0x8, 0x9):
                mask = bytes(buf[pos + head : pos + head + 4])
                payload = _unmask(mask, bytes(buf[end - n : end]))
                out.append(_server_frame(0xA if opcode == 0x9 else 0x8, payload))
                if opcode == 0x8:
                    conn.sendall(b"".join(out))
                    return
            pos = end
        if pos > (1 << 20):
            del buf[:pos]
            pos = 0
        if out:
            conn.sendall(b"".join(out))


def _serve_one(conn: socket.socket, floods: dict[str, bytes], answer: bytes) -> None:
    with conn:
        http = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                http.receive_data(conn.recv(65536))
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                return
        assert request is not None
        headers = {k.lower(): v for k, v in request.headers}
        target = request.target.decode()
        kind = target.split("kind=")[1].split("&")[0] if "kind=" in target else "echo"
        reply = http.send(
            h11.InformationalResponse(
                status_code=101,
                headers=[
                    (b"Upgrade", b"websocket"),
                    (b"Connection", b"Upgrade"),
                    (b"Sec-WebSocket-Accept", generate_accept_token(headers[b"sec-websocket-key"])),
                ],
            )
        )
        conn.sendall((reply or b"") + floods[kind])
        try:
            _answer_loop(conn, answer)
        except OSError:
            pass


def _server_main(port_pipe: Any, n_text: int, n_audio: int) -> None:
    hello = [_session_created()]
    floods = {
        "text": _frames(hello + [_delta(i, " word") for i in range(n_text)], close=True),
        "audio": _frames(
            hello + [_delta(i, "A" * 6400, "audio") for i in range(n_audio)], close=True
        ),
        "echo": _frames(hello, close=False),
    }
    answer = _frames([_delta(0, "ok")], close=False)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port_pipe.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_one, args=(conn, floods, answer), daemon=True).start()


# -- one client of each kind ------------------------------------------------------------------
#
# Every client has the same four operations; each is given a URL and works on a fresh
# connection (except ``rtt`` and ``idle``, which are given connections' worth of work).


class Client:
    name = ""

    async def flood(self, url: str, n: int) -> float:
        """Seconds from session.created to the n-th delta."""
        raise NotImplementedError

    async def send(self, url: str, n: int) -> float:
        """Seconds to send n appends and receive the answer to the final small event."""
        raise NotImplementedError

    async def rtt(self, url: str, rounds: int, out: list[float]) -> None:
        """Append ``rounds`` round-trip times to ``out``."""
        raise NotImplementedError

    async def open_idle(self, url: str, ready: Callable[[], None], stop: anyio.Event) -> None:
        """Open a connection, call ready() once session.created arrived, hold until stop."""
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


class RawWebsockets(Client):
    name = "raw websockets"

    def _connect(self, url: str) -> Any:
        return ws_connect(url, ping_interval=None, max_size=None, compression=None)

    async def flood(self, url: str, n: int) -> float:
        async with self._connect(url) as ws:
            json.loads(await ws.recv())
            start = time.perf_counter()
            for _ in range(n):
                json.loads(await ws.recv())
            return time.perf_counter() - start

    async def send(self, url: str, n: int) -> float:
        async with self._connect(url) as ws:
            json.loads(await ws.recv())
            start = time.perf_counter()
            for _ in range(n):
                await ws.send(
                    json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO_20MS})
                )
            await ws.send(json.dumps(ASK))
            json.loads(await ws.recv())
            return time.perf_counter() - start

    async def rtt(self, url: str, rounds: int, out: list[float]) -> None:
        async with self._connect(url) as ws:
            json.loads(await ws.recv())
            for _ in range(rounds):
                start = time.perf_counter()
                await ws.send(json.dumps(ASK))
                json.loads(await ws.recv())
                out.append(time.perf_counter() - start)

    async def open_idle(self, url: str, ready: Callable[[], None], stop: anyio.Event) -> None:
        async with self._connect(url) as ws:
            json.loads(await ws.recv())
            ready()
            await stop.wait()


class RawHttpxWs(Client):
    name = "raw httpx-ws"

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0)
        )

    def _connect(self, url: str) -> Any:
        return aconnect_ws(
            url.replace("ws://", "http://"),
            self.client,
            keepalive_ping_interval_seconds=None,
            max_message_size_bytes=256 * 1024,
        )

    async def flood(self, url: str, n: int) -> float:
        async with self._connect(url) as ws:
            json.loads(await ws.receive_text())
            start = time.perf_counter()
            for _ in range(n):
                json.loads(await ws.receive_text())
            return time.perf_counter() - start

    async def send(self, url: str, n: int) -> float:
        async with self._connect(url) as ws:
            json.loads(await ws.receive_text())
            start = time.perf_counter()
            for _ in range(n):
                await ws.send_text(
                    json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO_20MS})
                )
            await ws.send_text(json.dumps(ASK))
            json.loads(await ws.receive_text())
            return time.perf_counter() - start

    async def rtt(self, url: str, rounds: int, out: list[float]) -> None:
        async with self._connect(url) as ws:
            json.loads(await ws.receive_text())
            for _ in range(rounds):
                start = time.perf_counter()
                await ws.send_text(json.dumps(ASK))
                json.loads(await ws.receive_text())
                out.append(time.perf_counter() - start)

    async def open_idle(self, url: str, ready: Callable[[], None], stop: anyio.Event) -> None:
        async with self._connect(url) as ws:
            json.loads(await ws.receive_text())
            ready()
            await stop.wait()

    async def aclose(self) -> None:
        await self.client.aclose()


class Realtime(Client):
    def __init__(self, name: str, transport: Transport) -> None:
        self.name = name
        self.transport = transport

    def _config(self, url: str) -> realtime.ModelConfig:
        return realtime.ModelConfig(api_key="x", url=url, ping_interval=None)

    async def flood(self, url: str, n: int) -> float:
        done = anyio.Event()
        count = 0
        start = end = 0.0

        def listener(event: Any) -> None:
            nonlocal count, start, end
            if event.type == "session.created":
                start = time.perf_counter()
            elif event.type.startswith("response.output_"):
                count += 1
                if count == n:
                    end = time.perf_counter()
                    done.set()

        async with realtime.connect(
            self._config(url), transport=self.transport, session=listener, event_buffer=0
        ):
            await done.wait()
        return end - start

    async def send(self, url: str, n: int) -> float:
        async with realtime.connect(self._config(url), transport=self.transport) as conn:
            await conn.__anext__()  # session.created
            start = time.perf_counter()
            for _ in range(n):
                await conn.send_message({"type": "input_audio_buffer.append", "audio": AUDIO_20MS})
            await conn.send_message(ASK)
            await conn.__anext__()
            return time.perf_counter() - start

    async def rtt(self, url: str, rounds: int, out: list[float]) -> None:
        async with realtime.connect(self._config(url), transport=self.transport) as conn:
            await conn.__anext__()  # session.created
            for _ in range(rounds):
                start = time.perf_counter()
                await conn.send_message(ASK)
                await conn.__anext__()
                out.append(time.perf_counter() - start)

    async def open_idle(self, url: str, ready: Callable[[], None], stop: anyio.Event) -> None:
        async with realtime.connect(self._config(url), transport=self.transport) as conn:
            await conn.__anext__()
            ready()
            await stop.wait()

    async def aclose(self) -> None:
        await self.transport.aclose()


class OpenAISDK(Client):
    name = "openai"

    def __init__(self) -> None:
        from openai import AsyncOpenAI

        self.client: Any = None
        self._factory = AsyncOpenAI

    def _connect(self, url: str) -> Any:
        base = url.split("/v1/")[0] + "/v1"
        if self.client is None:
            self.client = self._factory(api_key="x", websocket_base_url=base)
        kind = url.split("kind=")[1] if "kind=" in url else "echo"
        return self.client.realtime.connect(model="gpt-realtime", extra_query={"kind": kind})

    async def flood(self, url: str, n: int) -> float:
        async with self._connect(url) as connection:
            await connection.recv()
            start = time.perf_counter()
            for _ in range(n):
                await connection.recv()
            return time.perf_counter() - start

    async def send(self, url: str, n: int) -> float:
        async with self._connect(url) as connection:
            await connection.recv()
            start = time.perf_counter()
            for _ in range(n):
                await connection.input_audio_buffer.append(audio=AUDIO_20MS)
            await connection.input_audio_buffer.commit()
            await connection.recv()
            return time.perf_counter() - start

    async def rtt(self, url: str, rounds: int, out: list[float]) -> None:
        async with self._connect(url) as connection:
            await connection.recv()
            for _ in range(rounds):
                start = time.perf_counter()
                await connection.input_audio_buffer.commit()
                await connection.recv()
                out.append(time.perf_counter() - start)

    async def open_idle(self, url: str, ready: Callable[[], None], stop: anyio.Event) -> None:
        async with self._connect(url) as connection:
            await connection.recv()
            ready()
            await stop.wait()

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()


# -- measurements -----------------------------------------------------------------------------


async def _median(repeat: int, run: Callable[[], Awaitable[float]]) -> float:
    await run()  # warm-up
    return statistics.median([await run() for _ in range(repeat)])


async def _rtt(client: Client, url: str, conns: int, rounds: int) -> tuple[float, float]:
    samples: list[float] = []
    async with anyio.create_task_group() as tg:
        for _ in range(conns):
            tg.start_soon(client.rtt, url, rounds, samples)
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return p50 * 1e3, p99 * 1e3


async def _idle_bytes(client: Client, url: str, n: int) -> float:
    """tracemalloc bytes per idle connection, over n connections opened at once."""
    stop = anyio.Event()
    opened = 0
    all_ready = anyio.Event()

    def ready() -> None:
        nonlocal opened
        opened += 1
        if opened == n:
            all_ready.set()

    # One connection first, outside the measurement: imports, caches, the shared client.
    warm_stop = anyio.Event()
    warm_ready = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.open_idle, url, warm_ready.set, warm_stop)
        await warm_ready.wait()
        warm_stop.set()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(client.open_idle, url, ready, stop)
            await all_ready.wait()
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            stop.set()
    finally:
        tracemalloc.stop()
    return (after - before) / n


async def _bench(port: int, args: argparse.Namespace) -> dict[tuple[str, str], float]:
    base = f"ws://127.0.0.1:{port}/v1/realtime"
    clients: list[Client] = [
        Realtime("rt/websockets", WebsocketsTransport()),
        RawWebsockets(),
        Realtime("rt/httpx-ws", HttpxWsTransport()),
        RawHttpxWs(),
        OpenAISDK(),
    ]
    results: dict[tuple[str, str], float] = {}
    try:
        for client in clients:
            name = client.name
            print(f"  {name} ...", file=sys.stderr, flush=True)
            text_url, audio_url, echo_url = (
                f"{base}?kind=text",
                f"{base}?kind=audio",
                f"{base}?kind=echo",
            )
            t = await _median(args.repeat, partial(client.flood, text_url, args.n_text))
            results[(name, "text")] = args.n_text / t
            t = await _median(args.repeat, partial(client.flood, audio_url, args.n_audio))
            results[(name, "audio")] = args.n_audio / t
            t = await _median(args.repeat, partial(client.send, echo_url, args.n_send))
            results[(name, "send")] = args.n_send / t
            await _rtt(client, echo_url, 1, 20)  # warm-up
            p50, p99 = await _rtt(client, echo_url, 1, args.rtt_rounds)
            results[(name, "rtt1_p50")], results[(name, "rtt1_p99")] = p50, p99
            p50, p99 = await _rtt(client, echo_url, 100, args.rtt_rounds_100)
            results[(name, "rtt100_p50")], results[(name, "rtt100_p99")] = p50, p99
            results[(name, "idle")] = await _idle_bytes(client, echo_url, args.idle_n)
    finally:
        for client in clients:
            await client.aclose()
    return results


ROWS = [
    ("text", "(a) text deltas, events/s", "{:,.0f}", True),
    ("audio", "(b) audio deltas 100 ms, events/s", "{:,.0f}", True),
    ("send", "(c) send append 20 ms, events/s", "{:,.0f}", True),
    ("rtt1_p50", "(d) RTT 1 conn p50, ms", "{:.3f}", False),
    ("rtt1_p99", "(d) RTT 1 conn p99, ms", "{:.3f}", False),
    ("rtt100_p50", "(d) RTT 100 conns p50, ms", "{:.2f}", False),
    ("rtt100_p99", "(d) RTT 100 conns p99, ms", "{:.2f}", False),
    ("idle", "(e) idle connection, KiB", "{:.1f}", False),
]
NAMES = ["rt/websockets", "raw websockets", "rt/httpx-ws", "raw httpx-ws", "openai"]


def _table(results: dict[tuple[str, str], float]) -> str:
    head = ["metric", *NAMES, "rt-ws/raw-ws", "rt-hx/raw-hx", "rt-ws/openai", "rt-hx/openai"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label, fmt, higher_better in ROWS:
        scale = 1 / 1024 if key == "idle" else 1.0
        cells = [fmt.format(results[(n, key)] * scale) for n in NAMES]

        def ratio(a: str, b: str, key: str = key, higher_better: bool = higher_better) -> str:
            # Always "how many times better than": > 1 means this library is ahead.
            x, y = results[(a, key)], results[(b, key)]
            return f"{(x / y if higher_better else y / x):.2f}"

        ratios = [
            ratio("rt/websockets", "raw websockets"),
            ratio("rt/httpx-ws", "raw httpx-ws"),
            ratio("rt/websockets", "openai"),
            ratio("rt/httpx-ws", "openai"),
        ]
        lines.append("| " + " | ".join([label, *cells, *ratios]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-text", type=int, default=20_000)
    parser.add_argument("--n-audio", type=int, default=3_000)
    parser.add_argument("--n-send", type=int, default=20_000)
    parser.add_argument("--rtt-rounds", type=int, default=1_000, help="round trips at 1 conn")
    parser.add_argument("--rtt-rounds-100", type=int, default=50, help="per conn at 100 conns")
    parser.add_argument("--idle-n", type=int, default=100, help="connections for (e)")
    parser.add_argument("--repeat", type=int, default=3, help="median of R runs (a)-(c)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.n_text, args.n_audio, args.n_send = 2_000, 300, 2_000
        args.rtt_rounds, args.rtt_rounds_100, args.idle_n, args.repeat = 100, 5, 10, 1

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=_server_main, args=(child, args.n_text, args.n_audio), daemon=True
    )
    server.start()
    port = parent.recv()
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("websockets", "httpx", "httpx-ws", "wsproto", "anyio", "openai")
    )
    began = time.perf_counter()
    try:
        results = anyio.run(_bench, port, args, backend="asyncio")
    finally:
        server.terminate()
    print(f"python {platform.python_version()}, asyncio, {versions}")
    print(
        f"(a) {args.n_text} text, (b) {args.n_audio} audio, (c) {args.n_send} appends: median "
        f"of {args.repeat} after a warm-up; (d) {args.rtt_rounds} round trips at 1 conn, "
        f"{args.rtt_rounds_100} per conn at 100 conns; (e) {args.idle_n} idle conns"
    )
    print("ratios: > 1 means this library is ahead (faster, lower latency, less memory)\n")
    print(_table(results))
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    assert websockets  # imported for its version above
    main()
