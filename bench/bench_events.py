"""Benchmark: cost of turning a received text frame into a typed event.

Compares, per frame, (a) bare ``json.loads``, (b) :func:`realtime.events.parse_text` (decode,
dispatch on ``type``, required-key check, lazy view) and (c) an eager alternative that builds a
frozen slotted dataclass with every field copied out of the dict. Frames: a small
``response.output_text.delta`` and a 100 ms audio delta (4800 bytes of PCM, base64-encoded to
6400 characters).

Run from the repository root::

    python bench/bench_events.py [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import timeit
from dataclasses import dataclass
from typing import Any

from realtime.events import EVENT_TYPES, parse_text


@dataclass(frozen=True, slots=True)
class EagerDelta:
    """The eager alternative: every field copied into a frozen slotted dataclass."""

    type: str
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


_EAGER_TYPES = {"response.output_text.delta", "response.output_audio.delta"}
_loads = json.loads


def parse_eager(text: str) -> EagerDelta:
    """Decode, dispatch and build an :class:`EagerDelta` (the same checks as ``parse_text``)."""
    obj: dict[str, Any] = _loads(text)
    if obj["type"] not in _EAGER_TYPES:
        raise ValueError(obj["type"])
    return EagerDelta(
        type=obj["type"],
        event_id=obj["event_id"],
        response_id=obj["response_id"],
        item_id=obj["item_id"],
        output_index=obj["output_index"],
        content_index=obj["content_index"],
        delta=obj["delta"],
    )


def frames() -> dict[str, str]:
    common = {
        "event_id": "event_CSJ1o5BGEQ4vc4V4dqLVt",
        "response_id": "resp_CSJ1nL5LcNyrCkBUS2uE9",
        "item_id": "item_CSJ1nNPOHzBr6ub5uwvZZ",
        "output_index": 0,
        "content_index": 0,
    }
    pcm = bytes(i % 251 for i in range(4800))  # 100 ms of 24 kHz 16-bit mono
    audio = base64.b64encode(pcm).decode("ascii")
    assert len(audio) == 6400
    return {
        "text delta": json.dumps({"type": "response.output_text.delta", **common, "delta": "Hel"}),
        "audio delta 100ms": json.dumps(
            {"type": "response.output_audio.delta", **common, "delta": audio}
        ),
    }


def best_ns(func: Any, arg: str, number: int, repeat: int) -> float:
    times = timeit.repeat(lambda: func(arg), number=number, repeat=repeat)
    return min(times) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description="parse cost per server event")
    parser.add_argument("--number", type=int, default=100_000, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=7, help="timings; the best is kept")
    args = parser.parse_args()

    print(f"Python {sys.version.split()[0]} ({platform.python_implementation()}), ", end="")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs; {len(EVENT_TYPES)} event classes")
    print(f"best of {args.repeat} x {args.number} calls\n")
    header = f"{'frame':<18} {'bytes':>6} {'json.loads':>11} {'parse_text':>11} {'eager':>9}"
    print(header + f" {'b/a':>6} {'c/a':>6} {'a/b thrpt':>10}")
    for name, text in frames().items():
        # Sanity: both parsers understand the frame.
        lazy = parse_text(text)
        eager = parse_eager(text)
        assert lazy.raw["delta"] == eager.delta

        a = best_ns(_loads, text, args.number, args.repeat)
        b = best_ns(parse_text, text, args.number, args.repeat)
        c = best_ns(parse_eager, text, args.number, args.repeat)
        print(
            f"{name:<18} {len(text):>6} {a:>9.0f}ns {b:>9.0f}ns {c:>7.0f}ns"
            f" {b / a:>6.2f} {c / a:>6.2f} {a / b:>10.2f}"
        )
    print("\nb/a, c/a: time relative to bare json.loads (lower is better);")
    print("a/b thrpt: parse_text throughput as a fraction of json.loads (target >= 0.5).")


if __name__ == "__main__":
    main()
