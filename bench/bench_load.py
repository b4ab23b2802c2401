"""Load and soak: many concurrent connections to the fake, then many connect/close cycles.

1. Load: open ``--connections`` connections at once to one FakeRealtimeServer (served on
   loopback by default, or in memory with ``--transport memory``), wait until each got
   ``session.created`` and is idle, measure memory per idle connection (tracemalloc, minus the
   baseline taken before any was opened), then make each one send ``--events`` client events
   and receive the server's answers; report total events/s received.
2. Soak: ``--cycles`` sequential connect/close cycles; print tracemalloc current, RSS and open
   file descriptors at intervals, and fail if descriptors leaked or memory kept growing. The
   fake's journal is bounded (the last ``journal_connections`` closed connections, 20 by
   default), so the fake's own memory is part of what must stay flat.

Loopback only, bounded in count and time. Run:
``python bench/bench_load.py [--connections 1000] [--cycles 10000] [--transport loopback]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import sys
import time
import tracemalloc
from typing import Any

import anyio

import realtime
from fakes import FakeRealtimeServer
from realtime.transports import HttpxWsTransport, MemoryTransport, Transport


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        print(f"raised RLIMIT_NOFILE soft limit {soft} -> {target} (hard {hard})")


async def run(args: argparse.Namespace) -> None:
    fake = FakeRealtimeServer()
    async with contextlib.AsyncExitStack() as stack:
        transport: Transport
        if args.transport == "memory":
            transport = MemoryTransport(fake)
            url = "wss://api.openai.com/v1/realtime"
        else:
            url = await stack.enter_async_context(fake.serve())
            httpx_transport = HttpxWsTransport()
            stack.push_async_callback(httpx_transport.aclose)
            transport = httpx_transport
        # Opening 1,000 at once on one core (tracemalloc on) takes longer than the default 10 s.
        config = realtime.ModelConfig(
            api_key="sk-bench", url=url, ping_interval=None, connect_timeout=120.0
        )
        await load(args, fake, transport, config)
        await soak(args, fake, transport, config)


async def load(
    args: argparse.Namespace, fake: FakeRealtimeServer, transport: Transport, config: Any
) -> None:
    n = args.connections
    gc.collect()
    fd0 = fds()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    opened = 0
    all_open = anyio.Event()
    release = anyio.Event()
    received = 0
    go = anyio.Event()
    done = 0
    all_done = anyio.Event()

    async def one(i: int) -> None:
        nonlocal opened, received, done
        created = anyio.Event()
        finished = anyio.Event()
        got = 0

        def on_event(event: Any) -> None:
            nonlocal got, received
            if event.type == "session.created":
                created.set()
            elif event.type == "input_audio_buffer.cleared":
                got += 1
                received += 1
                if got == args.events:
                    finished.set()

        async with realtime.connect(config, transport=transport, session=on_event) as conn:
            await created.wait()
            opened += 1
            if opened == n:
                all_open.set()
            await go.wait()
            for _ in range(args.events):
                await conn.send_message({"type": "input_audio_buffer.clear"})
            await finished.wait()
            done += 1
            if done == n:
                all_done.set()
            await release.wait()

    t0 = time.perf_counter()
    with anyio.fail_after(args.timeout):
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(one, i)
            await all_open.wait()
            t_open = time.perf_counter() - t0
            gc.collect()
            idle = tracemalloc.get_traced_memory()[0] - base
            print(
                f"load: {n} connections open and idle in {t_open:.2f} s; "
                f"memory per idle connection {idle / n / 1024:.1f} KiB "
                f"(tracemalloc, includes the fake's server side); RSS {rss_mb():.0f} MiB; "
                f"fds {fds() - fd0} over baseline"
            )
            t1 = time.perf_counter()
            go.set()
            await all_done.wait()
            elapsed = time.perf_counter() - t1
            print(
                f"load: {received} events received across {n} connections in {elapsed:.2f} s "
                f"= {received / elapsed:,.0f} events/s (each a round trip client->fake->client)"
            )
            release.set()
    tracemalloc.stop()
    print(f"load: all closed; fds {fds() - fd0:+d} vs before")


async def soak(
    args: argparse.Namespace, fake: FakeRealtimeServer, transport: Transport, config: Any
) -> None:
    m = args.cycles
    step = max(1, m // 10)
    # Warm up (imports, caches, the fake's first connection) before the baseline.
    for _ in range(20):
        async with realtime.connect(config, transport=transport):
            pass
    gc.collect()
    fd0 = fds()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    samples = []
    with anyio.fail_after(args.timeout):
        for i in range(1, m + 1):
            async with realtime.connect(config, transport=transport) as conn:
                await conn.send_message({"type": "input_audio_buffer.clear"})
            if i % step == 0:
                gc.collect()
                cur = tracemalloc.get_traced_memory()[0] - base
                samples.append(cur)
                print(
                    f"soak: {i:>6} cycles {time.perf_counter() - t0:6.1f} s  "
                    f"tracemalloc {cur / 1024:8.1f} KiB  RSS {rss_mb():6.1f} MiB  "
                    f"fds {fds() - fd0:+d}"
                )
    tracemalloc.stop()
    elapsed = time.perf_counter() - t0
    leaked = fds() - fd0
    print(f"soak: {m} cycles in {elapsed:.1f} s ({m / elapsed:,.0f} cycles/s); fds {leaked:+d}")
    if leaked > 0:
        sys.exit(f"soak: {leaked} file descriptors leaked")
    if len(samples) >= 4 and samples[-1] > 2 * samples[1] + 256 * 1024:
        sys.exit("soak: memory kept growing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20, help="events per connection")
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--transport", choices=["loopback", "memory"], default="loopback")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    # Each loopback connection holds two descriptors in this process (client and server).
    raise_fd_limit(2 * args.connections + 256)
    anyio.run(run, args, backend=args.backend)


if __name__ == "__main__":
    main()
