"""Receive throughput over loopback: raw httpx-ws vs realtime over HttpxWsTransport vs openai.

A flood server (a separate process: raw sockets, h11 for the upgrade, frames pre-encoded with
wsproto and written with one ``sendall``) answers every WebSocket connection with
``session.created`` and then N events as fast as the kernel takes them, then closes 1000. Each
client connects, starts the clock at ``session.created`` and stops it at the N-th event:

(a) raw httpx-ws: ``aconnect_ws`` + ``receive_text()`` + ``json.loads`` (the floor);
(b) ``realtime.connect`` over ``HttpxWsTransport`` with one listener counting events;
(b1) the same with a ``receive_many`` that drains the transport's buffered queue without
     waiting (what the core's ``receive_many`` hook allows), to measure whether it helps;
(c) the official ``openai`` SDK: ``AsyncOpenAI(...).realtime.connect(...)`` iterating events
    (asyncio only: the SDK uses the ``websockets`` library).

Run: ``python bench/bench_transport.py [--n-text 100000] [--n-audio 10000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import multiprocessing
import socket
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import h11
import httpx
from httpx_ws import aconnect_ws
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, TextMessage
from wsproto.utilities import generate_accept_token

import realtime
from realtime.transports import Close, HttpxWsTransport, Received
from realtime.transports._httpx_ws import _HttpxWsChannel


async def _draining_receive_many(self: _HttpxWsChannel) -> list[Received]:
    """A receive_many that takes every message already queued, without waiting."""
    first = await self.receive()
    if isinstance(first, Close):
        return [first]
    out: list[Received] = [first]
    queue = self._queue
    while True:
        try:
            item = queue.receive_nowait()
        except anyio.WouldBlock:
            return out
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            out.append(self._end(Close(1006, "connection lost")))
            return out
        received = self._convert(item)
        out.append(received)
        if isinstance(received, Close):
            await self._echo_close()
            return out


# -- the flood server (separate process) -----------------------------------------------------


def _events(kind: str, n: int) -> list[str]:
    common = {
        "response_id": "resp_0123456789abcdefghij",
        "item_id": "item_0123456789abcdefghij",
        "output_index": 0,
        "content_index": 0,
    }
    out = []
    for i in range(n):
        if kind == "text":
            event = {
                "type": "response.output_text.delta",
                "event_id": f"event_{i:020d}",
                **common,
                "delta": " word",
            }
        else:
            event = {
                "type": "response.output_audio.delta",
                "event_id": f"event_{i:020d}",
                **common,
                "delta": "A" * 6400,  # 100 ms of 24 kHz PCM16, base64
            }
        out.append(json.dumps(event, separators=(",", ":")))
    return out


def _session_created() -> str:
    return json.dumps(
        {
            "type": "session.created",
            "event_id": "event_session",
            "session": {"type": "realtime", "id": "sess_1", "model": "gpt-realtime"},
        }
    )


def _flood_bytes(kind: str, n: int) -> bytes:
    ws = Connection(ConnectionType.SERVER)
    parts = [ws.send(TextMessage(data=_session_created()))]
    parts.extend(ws.send(TextMessage(data=text)) for text in _events(kind, n))
    parts.append(ws.send(CloseConnection(code=1000)))
    return b"".join(parts)


def _serve_one(conn: socket.socket, floods: dict[str, bytes]) -> None:
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
        kind = "audio" if b"kind=audio" in request.target else "text"
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
        # Wait for the client's close (or EOF), then hang up.
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


def _server_main(port_pipe: Any, n_text: int, n_audio: int) -> None:
    floods = {"text": _flood_bytes("text", n_text), "audio": _flood_bytes("audio", n_audio)}
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port_pipe.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_one, args=(conn, floods), daemon=True).start()


# -- the clients ---------------------------------------------------------------------------


async def client_raw(url: str, n: int) -> float:
    """(a) raw httpx-ws receive + json.loads."""
    async with (
        httpx.AsyncClient() as client,
        aconnect_ws(
            url.replace("ws://", "http://"),
            client,
            keepalive_ping_interval_seconds=None,
            max_message_size_bytes=256 * 1024,
        ) as ws,
    ):
        json.loads(await ws.receive_text())  # session.created
        start = time.perf_counter()
        for _ in range(n):
            json.loads(await ws.receive_text())
        return time.perf_counter() - start


async def client_realtime(url: str, n: int, transport: HttpxWsTransport) -> float:
    """(b) realtime Connection over HttpxWsTransport, one listener."""
    done = anyio.Event()
    count = 0
    start = 0.0
    end = 0.0

    def listener(event: Any) -> None:
        nonlocal count, start, end
        if event.type == "session.created":
            start = time.perf_counter()
        elif event.type.startswith("response.output_"):
            count += 1
            if count == n:
                end = time.perf_counter()
                done.set()

    config = realtime.ModelConfig(api_key="x", url=url, ping_interval=None)
    async with realtime.connect(config, transport=transport, session=listener):
        await done.wait()
    return end - start


async def client_openai(url: str, n: int) -> float:
    """(c) the official openai SDK's realtime connection."""
    from openai import AsyncOpenAI

    base = url.split("/v1/")[0] + "/v1"
    kind = "audio" if "kind=audio" in url else "text"
    client = AsyncOpenAI(api_key="x", websocket_base_url=base)
    count = 0
    start = 0.0
    async with client.realtime.connect(
        model="gpt-realtime", extra_query={"kind": kind}
    ) as connection:
        async for event in connection:
            if event.type == "session.created":
                start = time.perf_counter()
            elif event.type.startswith("response.output_"):
                count += 1
                if count == n:
                    return time.perf_counter() - start
    raise RuntimeError("flood ended early")


async def _rate(repeat: int, n: int, run: Callable[..., Awaitable[float]], *args: Any) -> float:
    """Events per second: n over the median time of ``repeat`` runs."""
    times = [await run(*args) for _ in range(repeat)]
    return n / statistics.median(times)


async def _bench_backend(
    backend: str, port: int, n_text: int, n_audio: int, repeat: int
) -> dict[tuple[str, str], float]:
    results: dict[tuple[str, str], float] = {}
    transport = HttpxWsTransport()
    default = _HttpxWsChannel.receive_many
    try:
        for kind, n in (("text", n_text), ("audio", n_audio)):
            url = f"ws://127.0.0.1:{port}/v1/realtime?kind={kind}"
            # Warm up (imports, the owned client's SSL context, caches).
            await client_raw(url, n)
            await client_realtime(url, n, transport)
            results[("a", kind)] = await _rate(repeat, n, client_raw, url, n)
            results[("b", kind)] = await _rate(repeat, n, client_realtime, url, n, transport)
            _HttpxWsChannel.receive_many = _draining_receive_many  # type: ignore[method-assign]
            try:
                results[("b1", kind)] = await _rate(repeat, n, client_realtime, url, n, transport)
            finally:
                _HttpxWsChannel.receive_many = default  # type: ignore[method-assign]
            if backend == "asyncio":
                await client_openai(url, n)
                results[("c", kind)] = await _rate(repeat, n, client_openai, url, n)
    finally:
        await transport.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-text", type=int, default=100_000)
    parser.add_argument("--n-audio", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="asyncio,trio")
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=_server_main, args=(child, args.n_text, args.n_audio), daemon=True
    )
    server.start()
    port = parent.recv()
    import httpx_ws
    import openai
    import wsproto

    print(
        f"python {sys.version.split()[0]}, httpx {httpx.__version__}, "
        f"httpx-ws {httpx_ws.__version__}, wsproto {wsproto.__version__}, "
        f"anyio {importlib.metadata.version('anyio')}, trio {importlib.metadata.version('trio')}, "
        f"openai {openai.__version__}"
    )
    print(
        f"N text deltas = {args.n_text}, N audio deltas (6400 b64 chars) = {args.n_audio}, "
        f"median of {args.repeat}"
    )
    try:
        for backend in args.backends.split(","):
            results = anyio.run(
                _bench_backend,
                backend,
                port,
                args.n_text,
                args.n_audio,
                args.repeat,
                backend=backend,
            )
            print(f"\n[{backend}] events/s")
            for kind in ("text", "audio"):
                a, b, b1 = results[("a", kind)], results[("b", kind)], results[("b1", kind)]
                line = (
                    f"  {kind:5}  (a) raw httpx-ws {a:7.0f}  (b) realtime {b:7.0f}  "
                    f"(b1) draining {b1:7.0f}"
                )
                if ("c", kind) in results:
                    line += f"  (c) openai {results[('c', kind)]:7.0f}"
                line += f"   b/a {b / a:.2f}  b1/b {b1 / b:.2f}"
                if ("c", kind) in results:
                    line += f"  b/c {b / results[('c', kind)]:.2f}"
                print(line)
    finally:
        server.terminate()


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
