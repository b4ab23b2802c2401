"""Memory taken by an oversized message: does ``max_message_size`` bound it?

A server process (raw sockets, no WebSocket library) answers the upgrade, then announces one
256 MiB text message in a frame header and streams its payload until the client closes. Each
client case runs in a fresh Python process that connects with ``realtime.connect`` and reports
its peak RSS growth (``VmHWM`` after, less ``VmRSS`` before; Linux) and the final ``Closed``.

Cases, per transport (httpx-ws on asyncio and trio, websockets on asyncio):

- ``limit 1 MiB``: the limit is enforced while the message arrives (issue 10 §2);
- ``no limit``: the whole message is buffered, which is what every transport did before,
  whatever the limit (the core checked the size of the message once it had it whole). It is
  the baseline of the same run: the ratio says how much of that memory the limit saves.

Run: ``python bench/bench_oversize.py`` (about 20 s; ``--size-mib 64`` for a lighter run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from base64 import b64encode
from hashlib import sha1
from typing import Any

MIB = 1024 * 1024
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- the server (its own process) ----------------------------------------------------------


def _serve_one(conn: socket.socket, size: int) -> None:
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        key = b""
        for line in data.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = b64encode(sha1(key + _GUID).digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        closed = threading.Event()
        close_payload: list[bytes] = []

        def read_until_close() -> None:
            # The client's frames, for its close frame; pings are left unanswered.
            buffer = b""
            try:
                while not closed.is_set():
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buffer += chunk
                    while len(buffer) >= 6:
                        length = buffer[1] & 0x7F
                        start = 2 + {126: 2, 127: 8}.get(length, 0)
                        if length >= 126:
                            length = int.from_bytes(buffer[2:start], "big")
                        if len(buffer) < start + 4 + length:
                            break
                        mask = buffer[start : start + 4]
                        payload = bytes(
                            b ^ mask[i % 4]
                            for i, b in enumerate(buffer[start + 4 : start + 4 + length])
                        )
                        opcode = buffer[0] & 0x0F
                        buffer = buffer[start + 4 + length :]
                        if opcode == 0x8:
                            close_payload.append(payload)
                            closed.set()
            except OSError:
                pass
            closed.set()

        threading.Thread(target=read_until_close, daemon=True).start()
        conn.sendall(bytes([0x81, 127]) + struct.pack("!Q", size))
        chunk = b"a" * MIB
        sent = 0
        try:
            while sent < size and not closed.is_set():
                conn.sendall(chunk[: size - sent])
                sent += len(chunk)
            if sent >= size:
                # The message went out whole (a client that buffers it all): answer the close
                # that follows, as a server does. Cut short, it cannot be: the frame is open.
                closed.wait(30)
                if close_payload:
                    echo = close_payload[0][:125]
                    conn.sendall(bytes([0x88, len(echo)]) + echo)
        except OSError:
            pass


def _server(port_out: Any, size: int) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port_out.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_one, args=(conn, size), daemon=True).start()


# -- one client case (its own process) -----------------------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak() -> None:
    # Linux: writing "5" resets VmHWM to the current RSS, so the peak measured is this case's.
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def _client(url: str, kind: str, backend: str, limit: int | None) -> None:
    import anyio

    import realtime
    from realtime.events import Closed, FrameError
    from realtime.transports import HttpxWsTransport, WebsocketsTransport

    async def main() -> dict[str, Any]:
        transport = HttpxWsTransport() if kind == "httpx_ws" else WebsocketsTransport()
        ended: list[Any] = []
        done = anyio.Event()

        def listener(event: Any) -> None:
            # Closed (1009) with a limit; without one, the message arrives whole (not JSON:
            # a FrameError), and the client leaves.
            if isinstance(event, (Closed, FrameError)):
                ended.append(event)
                done.set()

        config = realtime.ModelConfig(
            api_key="sk-bench", url=url, ping_interval=None, max_message_size=limit
        )
        _reset_peak()
        before = _status("VmRSS")
        start = time.perf_counter()
        async with realtime.connect(config, transport=transport, session=listener):
            with anyio.fail_after(120):
                await done.wait()
        seconds = time.perf_counter() - start
        await transport.aclose()
        end = ended[0]
        return {
            "growth": _status("VmHWM") - before,
            "code": end.code if isinstance(end, Closed) else "delivered",
            "reason": end.reason if isinstance(end, Closed) else "",
            "seconds": seconds,
        }

    print(json.dumps(anyio.run(main, backend=backend)))


def _case(
    url: str, kind: str, backend: str, limit: int | None, tree: str | None = None
) -> dict[str, Any]:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    out = subprocess.run(
        [sys.executable, __file__, "--client", url, kind, backend, str(limit or 0)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} ({backend}) failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--limit-mib", type=int, default=1)
    parser.add_argument(
        "--before",
        metavar="TREE",
        help="also run the limit case on another source tree (e.g. an export of the commit "
        "before the change) and show it as a column",
    )
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, kind, backend, limit = args.client
        _client(url, kind, backend, int(limit) or None)
        return

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_server, args=(child, args.size_mib * MIB), daemon=True
    )
    server.start()
    try:
        url = f"ws://127.0.0.1:{parent.recv()}/v1/realtime"
        limit = args.limit_mib * MIB
        print(
            f"one {args.size_mib} MiB text message against max_message_size = "
            f"{args.limit_mib} MiB; peak RSS growth of the client process"
        )
        print()
        before = " limit, --before tree |" if args.before else ""
        print(f"| transport | no limit |{before} limit | limit / no limit | close (limit) |")
        print("|---|---|---|---|---|" + ("---|" if args.before else ""))
        cases = (("httpx_ws", "asyncio"), ("httpx_ws", "trio"), ("websockets", "asyncio"))
        for kind, backend in cases:
            unbounded = _case(url, kind, backend, None)
            bounded = _case(url, kind, backend, limit)
            old = ""
            if args.before:
                then = _case(url, kind, backend, limit, tree=os.path.abspath(args.before))
                old = f" {then['growth'] / MIB:+.0f} MiB (closed {then['code']}) |"
            ratio = bounded["growth"] / max(unbounded["growth"], 1)
            print(
                f"| {kind} ({backend}) | {unbounded['growth'] / MIB:+.0f} MiB "
                f"({unbounded['code']}) |{old} {bounded['growth'] / MIB:+.1f} MiB | "
                f"{ratio:.3f}x | {bounded['code']} {bounded['reason']!r} |"
            )
    finally:
        server.kill()


if __name__ == "__main__":
    main()
