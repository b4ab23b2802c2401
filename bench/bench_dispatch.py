"""Events/s through parse + dispatch to one listener over MemoryTransport, against bare
``json.loads`` of the same frames, measured in the same run.

    python bench/bench_dispatch.py [--events N] [--repeat R] [--backend asyncio|trio]

Prints the best of R runs for each, and the ratio (library / bare json.loads).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import anyio

import realtime
from realtime.transports import MemoryTransport, ServerSocket


def text_delta(n: int) -> str:
    return json.dumps(
        {
            "type": "response.output_text.delta",
            "event_id": f"event_{n:021d}",
            "response_id": "resp_C0000000000000000000",
            "item_id": "item_C0000000000000000000",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hello",
        },
        separators=(",", ":"),
    )


def bare(frames: list[str]) -> float:
    start = time.perf_counter()
    loads = json.loads
    for frame in frames:
        loads(frame)
    return time.perf_counter() - start


async def library(frames: list[str]) -> float:
    async def flood(socket: ServerSocket) -> None:
        # The frames are queued before the clock starts (the buffer is unbounded), so the
        # measurement is the client's receive, parse and dispatch, not the fake's sending:
        # over a network the sender is another machine.
        nonlocal start
        for frame in frames:
            await socket.send_text(frame)
        await socket.close(1000, "")
        start = time.perf_counter()
        await socket.accept()
        await socket.receive()

    done = anyio.Event()
    count = 0
    start = end = 0.0

    def listener(event: Any) -> None:
        # The owner's session handler: it sees every event from the first one.
        nonlocal count, end
        if event.type == "response.output_text.delta":
            count += 1
        elif event.type == "realtime.closed":
            end = time.perf_counter()
            done.set()

    config = realtime.ModelConfig(api_key="sk-bench", ping_interval=None)
    transport = MemoryTransport(flood, buffer_size=-1)
    async with realtime.connect(config, transport=transport, session=listener, event_buffer=0):
        await done.wait()
    assert count == len(frames), count
    elapsed = end - start
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    frames = [text_delta(n) for n in range(args.events)]
    bare_best = lib_best = float("inf")
    for _ in range(args.repeat):
        bare_best = min(bare_best, bare(frames))
        lib_best = min(lib_best, anyio.run(library, frames, backend=args.backend))
    bare_rate = args.events / bare_best
    lib_rate = args.events / lib_best
    print(f"backend={args.backend} events={args.events} repeat={args.repeat} (best of)")
    print(f"bare json.loads         {bare_rate:>12,.0f} events/s")
    print(f"parse+dispatch (memory) {lib_rate:>12,.0f} events/s")
    print(f"ratio library/bare      {lib_rate / bare_rate:>12.2f}  (target >= 0.50)")


if __name__ == "__main__":
    main()
