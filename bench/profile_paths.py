"""cProfile of this library's hot paths against the run_all.py server (one process each).

    python bench/profile_paths.py [--what text|audio|send|rtt] [--transport websockets|httpx_ws]
        [--n N] [--top 25]

Prints the top functions by total (self) time, and the per-event count of the ones that show
task switches and scopes (asyncio ``_run_once``/``Handle._run``, anyio checkpoints,
``CancelScope.__enter__``).
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import pstats
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))
import run_all

from realtime.transports import HttpxWsTransport, WebsocketsTransport


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--what", default="text", choices=["text", "audio", "send", "rtt"])
    parser.add_argument("--transport", default="websockets", choices=["websockets", "httpx_ws"])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    n_flood = args.n if args.what in ("text", "audio") else 10
    server = multiprocessing.Process(
        target=run_all._server_main, args=(child, n_flood, n_flood), daemon=True
    )
    server.start()
    port = parent.recv()
    transport = WebsocketsTransport() if args.transport == "websockets" else HttpxWsTransport()
    client = run_all.Realtime(args.transport, transport)
    base = f"ws://127.0.0.1:{port}/v1/realtime"

    async def run() -> None:
        if args.what in ("text", "audio"):
            await client.flood(f"{base}?kind={args.what}", args.n)
        elif args.what == "send":
            await client.send(f"{base}?kind=echo", args.n)
        else:
            await client.rtt(f"{base}?kind=echo", args.n, [])

    profile = cProfile.Profile()
    try:
        anyio.run(run, backend="asyncio")  # warm-up
        profile.enable()
        anyio.run(run, backend="asyncio")
        profile.disable()
    finally:
        server.terminate()
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(args.top)
    print(f"per event (n={args.n}):")
    for (file, _line, name), (_cc, nc, _tt, ct, _callers) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda item: -item[1][1],
    ):
        if name in (
            "_run_once",
            "_run",
            "checkpoint",
            "checkpoint_if_cancelled",
            "cancel_shielded_checkpoint",
            "__enter__",
            "send_nowait",
            "receive_many",
            "_flush",
        ) and ("asyncio" in file or "anyio" in file or "realtime" in file):
            print(f"  {nc / args.n:6.2f} calls  {ct / args.n * 1e6:7.2f} us cum  {name} {file}")


if __name__ == "__main__":
    main()
