"""20 connections, the fake against aimock (and, optionally, the fake of another checkout),
in interleaved rounds, with each round's ratio: the machine is shared and noisy, so a ratio of
rounds run side by side means more than the best of each.

Per round and server: turns/s over 20 concurrent connections (50 turns each, after a warm-up
of as many), and the CPU per turn of the server process and of the client process (the
official SDK). See ``bench_fake_vs_aimock.py`` for what a turn is.

Run: ``python bench/bench_fake_20.py [--rounds 8] [--baseline-fake DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fake_vs_aimock import (
    AIMOCK_MODULE,
    FAKE_SERVER,
    REPLY,
    ROOT,
    Server,
    concurrent,
    ensure_aimock,
    start,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--baseline-fake", metavar="DIR", type=Path)
    args = parser.parse_args()
    skipped = ensure_aimock()
    if skipped is not None:
        raise SystemExit(skipped)
    commands: dict[str, tuple[list[str], Path]] = {
        "fake": ([sys.executable, "-c", FAKE_SERVER], ROOT)
    }
    if args.baseline_fake is not None:
        commands["fake@base"] = ([sys.executable, "-c", FAKE_SERVER], args.baseline_fake.resolve())
    node = ["node", str(ROOT / "bench" / "aimock_server.mjs"), str(AIMOCK_MODULE), REPLY]
    commands["aimock"] = (node, ROOT)
    servers: dict[str, Server] = {}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}

    async def measure() -> None:
        for _ in range(args.rounds):
            for name, server in servers.items():
                results[name].append(await concurrent(server, 20, 50))

    try:
        for name, (command, root) in commands.items():
            servers[name] = start(name, command, root)
        asyncio.run(measure())
    finally:
        for server in servers.values():
            server.stop()
    print(f"20 connections x 50 turns, {args.rounds} interleaved rounds")
    for name, rows in results.items():
        rates = [row[0] for row in rows]
        print(
            f"{name:10} turns/s median {statistics.median(rates):5.0f}  "
            f"server CPU {statistics.median(r[1] for r in rows):.2f} ms/turn  "
            f"client CPU {statistics.median(r[2] for r in rows):.2f} ms/turn  "
            f"rounds: {', '.join(f'{rate:.0f}' for rate in rates)}"
        )
    aimock = results["aimock"]
    for name in results:
        if name == "aimock":
            continue
        per = [f[0] / a[0] for f, a in zip(results[name], aimock, strict=True)]
        print(
            f"ratio {name}/aimock turns/s, median of rounds: {statistics.median(per):.2f}  "
            f"[{', '.join(f'{p:.2f}' for p in per)}]"
        )
        client = statistics.median(r[2] for r in aimock) / statistics.median(
            r[2] for r in results[name]
        )
        print(f"  client CPU per turn aimock/{name} (the bound, client saturated): {client:.2f}")


if __name__ == "__main__":
    main()
