"""The fake's notion of wall-clock time: injectable, deterministic by default."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that only moves when told to: the same test sees the same timestamps every run.

    Call it for the current Unix time in seconds. Any ``Callable[[], float]`` (``time.time``
    for instance) can replace it through ``FakeRealtimeServer(clock=...)``.
    """

    def __init__(self, start: float = 1_760_000_000) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds
