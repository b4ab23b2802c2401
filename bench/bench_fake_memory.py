"""Memory of the served fake over a long run: does it level off?

The fake is served in its own process, on loopback, as ``bench_fake_vs_aimock.py`` serves it;
the official ``openai`` SDK drives text turns (a user message, ``response.create``, read to
``response.done``). Printed: the server's RSS after the first session opened, then every
1,000 turns of (a) 5,000 turns on one connection, then (b) 5,000 turns over 50 connections of
100 turns, one after the other (each closed before the next opens: the journal keeps the last
``journal_connections`` closed ones, 20 by default). The figure to read is the growth per
1,000 turns once the first thousand are served, against the issue's 16 MiB per 1,000.

On one connection, the conversation keeps every item (the service keeps the conversation of a
session), so (a) grows by what 2 items per turn take; the journal keeps at most
``journal_events`` events per direction. Closed connections beyond the last 20 are forgotten.

Run: ``python bench/bench_fake_memory.py`` (``--turns N`` for (a) and (b) each).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fake_vs_aimock import FAKE_SERVER, Server, _session, _turn, start


async def measure(server: Server, turns: int) -> tuple[float, list[float], list[float]]:
    async with AsyncExitStack() as stack:
        connection = await _session(server, stack)
        first = server.rss_mib()
        one: list[float] = []
        for n in range(1, turns + 1):
            await _turn(connection)
            if n % 1000 == 0:
                one.append(server.rss_mib())
    many: list[float] = []
    for n in range(1, turns // 100 + 1):
        async with AsyncExitStack() as stack:
            connection = await _session(server, stack)
            for _ in range(100):
                await _turn(connection)
        if n * 100 % 1000 == 0:
            many.append(server.rss_mib())
    return first, one, many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=5000, help="turns of (a) and of (b)")
    args = parser.parse_args()
    server = start("fake", [sys.executable, "-c", FAKE_SERVER])
    try:
        first, one, many = asyncio.run(measure(server, args.turns))
    finally:
        server.stop()

    def steps(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    print(f"python {sys.version.split()[0]}; served fake RSS (MiB), one session open: {first:.1f}")
    print(f"(a) {args.turns} turns on one connection, every 1,000: {steps(one)}")
    print(f"(b) {args.turns} turns over connections of 100, every 1,000: {steps(many)}")
    if len(one) > 1:
        growth = (one[-1] - one[0]) / (len(one) - 1)
        print(f"(a) growth after the first 1,000 turns: {growth:.2f} MiB per 1,000 turns")
    if len(many) > 1:
        growth = (many[-1] - many[0]) / (len(many) - 1)
        print(f"(b) growth after the first 1,000 turns: {growth:.2f} MiB per 1,000 turns")


if __name__ == "__main__":
    main()
