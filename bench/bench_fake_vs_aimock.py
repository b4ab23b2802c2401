"""The served fake against aimock (npm ``@copilotkit/aimock``), the leading mock of AI APIs.

Both servers run as separate processes on loopback; one client process drives both with the
official ``openai`` SDK (``AsyncOpenAI(websocket_base_url=...).realtime.connect(model=...)``),
the same way and with the same reply. A turn: ``conversation.item.create`` (a user text
message), ``response.create``, then read events until ``response.done``. The session is text
only; the user says "Hello there." and both servers answer "You said: Hello there." (the fake's
default reply; aimock's fixture). The fake streams every event the real service sends for that
turn (aimock streams fewer: no ``conversation.item.done`` for the user item, no
``rate_limits.updated``...) and validates every client event strictly; aimock validates none.

Measured, per server, then as ratios fake/aimock:

(a) sequential text turns/s on one connection;
(b) turns/s over 20 concurrent connections;
(c) server CPU per turn (user + system time of the server process during (a), from /proc);
(d) on one connection, the median turn time over the first 100 and the last 100 of 5,000 turns
    (flat is a ratio <= 1.2).

aimock installs from the npm registry into ``bench/.aimock`` (gitignored) on the first run;
without node/npm the script measures the fake alone and says so.

(b) also reports the CPU per turn of the server and of the client process during (b): on two
shared cores the rate at 20 connections follows their sum, and the client's share grows with
the events it parses.

Run: ``python bench/bench_fake_vs_aimock.py`` (about two minutes; ``--quick`` for a smoke run;
``--profile FILE`` writes a cProfile of the fake server process; ``--baseline-fake DIR`` also
serves the fake of another checkout, e.g. ``git archive main | tar -x -C DIR``, in the same
run, to compare before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

ROOT = Path(__file__).resolve().parent.parent
AIMOCK_DIR = ROOT / "bench" / ".aimock"
AIMOCK_MODULE = AIMOCK_DIR / "node_modules" / "@copilotkit" / "aimock" / "dist" / "index.js"
SAID = "Hello there."
REPLY = f"You said: {SAID}"

FAKE_SERVER = """
import sys

import anyio

from fakes import FakeRealtimeServer


async def main() -> None:
    async with FakeRealtimeServer().serve("127.0.0.1", 0) as url:
        print(url.removesuffix("/v1/realtime"), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


if len(sys.argv) > 1:
    import cProfile

    cProfile.run("anyio.run(main)", sys.argv[1])
else:
    anyio.run(main)
"""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:port

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://") + "/v1"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Result:
    sequential: float = 0.0  # turns/s
    concurrent: float = 0.0  # turns/s
    concurrent_cpu_ms: float = 0.0  # server CPU per turn during (b)
    client_cpu_ms: float = 0.0  # client process CPU per turn during (b)
    cpu_ms: float = 0.0  # server CPU per turn
    first_ms: float = 0.0  # median turn time, first 100
    last_ms: float = 0.0  # median turn time, last 100
    rss: list[float] = field(default_factory=list)  # server RSS (MiB) every 1,000 turns of (d)
    notes: list[str] = field(default_factory=list)


def start(name: str, command: list[str], root: Path = ROOT) -> Server:
    process = subprocess.Popen(
        command,
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith(("http://", "ws://")):
        process.kill()
        raise SystemExit(f"{name} did not start: {line!r}")
    return Server(name, process, line.replace("ws://", "http://"))


def ensure_aimock() -> str | None:
    """Install aimock if needed; the reason it cannot run, or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not found: aimock skipped"
    if not AIMOCK_MODULE.exists():
        print("installing @copilotkit/aimock into bench/.aimock ...", flush=True)
        done = subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(AIMOCK_DIR), "@copilotkit/aimock"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not AIMOCK_MODULE.exists():
            return f"npm install @copilotkit/aimock failed: {done.stderr.strip()[:200]}"
    return None


def aimock_version() -> str:
    package = AIMOCK_MODULE.parent.parent / "package.json"
    import json

    return str(json.loads(package.read_text())["version"])


async def _session(server: Server, stack: AsyncExitStack) -> Any:
    client = openai.AsyncOpenAI(api_key="sk-test", websocket_base_url=server.ws_base)
    connection = await stack.enter_async_context(client.realtime.connect(model="gpt-realtime"))
    await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
    async for event in connection:
        if event.type == "session.updated":
            break
    return connection


async def _turn(connection: Any) -> None:
    await connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": SAID}]}
    )
    await connection.response.create()
    async for event in connection:
        if event.type == "response.done":
            text = event.response.output[0].content[0].text
            if text != REPLY:
                raise AssertionError(f"unexpected reply {text!r}")
            return
        if event.type == "error":
            raise AssertionError(f"server error: {event.error}")


async def sequential(server: Server, turns: int) -> tuple[float, float]:
    async with AsyncExitStack() as stack:
        connection = await _session(server, stack)
        for _ in range(20):  # warm up
            await _turn(connection)
        cpu = server.cpu_seconds()
        start = time.perf_counter()
        for _ in range(turns):
            await _turn(connection)
        elapsed = time.perf_counter() - start
        cpu = server.cpu_seconds() - cpu
    return turns / elapsed, cpu / turns * 1000


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def concurrent(
    server: Server, connections: int, turns_each: int
) -> tuple[float, float, float]:
    """Turns/s, server CPU ms per turn and client CPU ms per turn."""
    async with AsyncExitStack() as stack:
        sessions = [await _session(server, stack) for _ in range(connections)]

        async def run(connection: Any) -> None:
            for _ in range(turns_each):
                await _turn(connection)

        await asyncio.gather(*(run(c) for c in sessions))  # warm up
        cpu, own = server.cpu_seconds(), _own_cpu()
        start = time.perf_counter()
        await asyncio.gather(*(run(c) for c in sessions))
        elapsed = time.perf_counter() - start
        cpu, own = server.cpu_seconds() - cpu, _own_cpu() - own
    turns = connections * turns_each
    return turns / elapsed, cpu / turns * 1000, own / turns * 1000


async def flatness(server: Server, turns: int, result: Result) -> None:
    times = []
    async with AsyncExitStack() as stack:
        connection = await _session(server, stack)
        for n in range(1, turns + 1):
            start = time.perf_counter()
            await _turn(connection)
            times.append(time.perf_counter() - start)
            if n % 1000 == 0:
                result.rss.append(server.rss_mib())
    result.first_ms = statistics.median(times[:100]) * 1000
    result.last_ms = statistics.median(times[-100:]) * 1000


async def measure(servers: dict[str, Server], args: argparse.Namespace) -> dict[str, Result]:
    """Each figure in rounds that alternate the servers (the machine is shared and noisy):
    the best round of each server counts."""
    results = {name: Result() for name in servers}
    for _ in range(args.rounds):
        for name, server in servers.items():
            result = results[name]
            rate, cpu = await sequential(server, args.turns)
            result.sequential = max(result.sequential, rate)
            result.cpu_ms = cpu if not result.cpu_ms else min(result.cpu_ms, cpu)
            rate, cpu, own = await concurrent(server, 20, max(1, args.turns // 20))
            if rate > result.concurrent:
                result.concurrent = rate
                result.concurrent_cpu_ms, result.client_cpu_ms = cpu, own
    for name, server in servers.items():
        await flatness(server, args.long, results[name])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000, help="turns for (a), (b), (c)")
    parser.add_argument("--long", type=int, default=5000, help="turns on one connection, (d)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a), (b), (c)")
    parser.add_argument("--quick", action="store_true", help="a smoke run (200 / 300 turns)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the fake server into FILE")
    parser.add_argument(
        "--baseline-fake",
        metavar="DIR",
        type=Path,
        help="also serve the fake of the checkout in DIR (as 'fake@base')",
    )
    args = parser.parse_args()
    if args.quick:
        args.turns, args.long, args.rounds = 200, 300, 1
    fake_command = [sys.executable, "-c", FAKE_SERVER, *([args.profile] if args.profile else [])]
    skipped = ensure_aimock()
    commands = {"fake": fake_command}
    roots = {"fake": ROOT}
    if args.baseline_fake is not None:
        commands["fake@base"] = [sys.executable, "-c", FAKE_SERVER]
        roots["fake@base"] = args.baseline_fake.resolve()
    if skipped is None:
        node = ["node", str(ROOT / "bench" / "aimock_server.mjs"), str(AIMOCK_MODULE), REPLY]
        commands[f"aimock {aimock_version()}"] = node
    servers: dict[str, Server] = {}
    try:
        for name, command in commands.items():
            servers[name] = start(name, command, roots.get(name, ROOT))
        results = asyncio.run(measure(servers, args))
    finally:
        for server in servers.values():
            server.stop()
    print(
        f"python {sys.version.split()[0]}, openai {openai.__version__}, "
        f"turns={args.turns}, 20 connections x {max(1, args.turns // 20)}, long={args.long}, "
        f"best of {args.rounds} alternating rounds"
    )
    print(f"{'':34}" + "".join(f"{name:>16}" for name in results))
    rows = [
        ("sequential turns/s", "sequential", "{:,.0f}"),
        ("20 connections turns/s", "concurrent", "{:,.0f}"),
        ("  server CPU ms/turn", "concurrent_cpu_ms", "{:.2f}"),
        ("  client CPU ms/turn", "client_cpu_ms", "{:.2f}"),
        ("server CPU ms/turn", "cpu_ms", "{:.2f}"),
        ("median turn ms, first 100", "first_ms", "{:.2f}"),
        (f"median turn ms, last 100 of {args.long}", "last_ms", "{:.2f}"),
    ]
    for label, key, fmt in rows:
        print(
            f"{label:28}" + "".join(f"{fmt.format(getattr(r, key)):>16}" for r in results.values())
        )
    for name, result in results.items():
        if result.rss:
            steps = ", ".join(f"{rss:.0f}" for rss in result.rss)
            print(f"{name} server RSS MiB every 1,000 turns of (d): {steps}")
    fakes = [name for name in results if name.startswith("fake")]
    for name in fakes:
        fake = results[name]
        print(f"{name} turn cost last/first: {fake.last_ms / fake.first_ms:.2f}  (target <= 1.2)")
    if skipped is not None:
        print(skipped)
        return
    aimock = next(r for name, r in results.items() if not name.startswith("fake"))
    print(f"aimock turn cost last/first: {aimock.last_ms / aimock.first_ms:.2f}")
    for name in fakes:
        fake = results[name]
        print(f"ratio {name}/aimock, sequential turns/s: {fake.sequential / aimock.sequential:.2f}")
        print(
            f"ratio {name}/aimock, 20 connections turns/s: "
            f"{fake.concurrent / aimock.concurrent:.2f}"
        )
        print(f"ratio {name}/aimock, server CPU per turn: {fake.cpu_ms / aimock.cpu_ms:.2f}")
    print("(targets: turns/s ratios >= 1.0; fake turn cost last/first <= 1.2)")


if __name__ == "__main__":
    main()
