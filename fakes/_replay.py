"""Replaying a recorded session: answer a client with the recorded server events.

Two line formats are read (one JSON object per line):

- the ``realtime.Recorder`` format: ``{"direction": "client"|"server"|"meta", "t": <s>,
  "event": {...}}``;
- the shared recordings' format: ``{"from": "client"|"server", "event": {...}}``.

The recording is a script: server lines are sent, client lines are waited for. A client event
must have the recorded ``type`` (payloads are not compared: ids, audio and timestamps differ
from run to run); the first that does not is a divergence, reported with the step, the
expected and the received type, sent to the client as an ``error`` event and re-raised by
:meth:`ReplayServer.check`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from realtime.transports import Close, ServerSocket

__all__ = ["ReplayDivergenceError", "ReplayServer", "ReplayStep", "load_recording"]


class ReplayDivergenceError(AssertionError):
    """The client did not do what the recording says it did."""


@dataclass(frozen=True)
class ReplayStep:
    """One recorded frame.

    Attributes:
        direction: ``"client"`` or ``"server"``.
        t: Seconds since the recording started (``None`` when not recorded).
        event: The event as JSON.
        line: Its line number in the file, for error messages.
    """

    direction: str
    t: float | None
    event: dict[str, Any]
    line: int


def load_recording(path: str | Path) -> list[ReplayStep]:
    """Read a recording in either format.

    Raises:
        OSError: The file cannot be read.
        ValueError: A line is not a recorded frame (the message names the line).
    """
    steps: list[ReplayStep] = []
    with Path(path).open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            direction = record.get("direction", record.get("from"))
            if direction == "meta":
                continue
            event = record.get("event")
            if direction not in ("client", "server") or not isinstance(event, dict):
                raise ValueError(
                    f"{path}:{number}: expected {{'direction' or 'from': 'client'|'server', "
                    "'event': {...}}"
                )
            if not isinstance(event.get("type"), str):
                raise ValueError(f"{path}:{number}: the event has no string 'type'")
            t = record.get("t")
            steps.append(
                ReplayStep(
                    direction, float(t) if isinstance(t, (int, float)) else None, event, number
                )
            )
    return steps


class ReplayServer:
    """Serves a recording to each connection (create it with ``FakeRealtimeServer.replay``).

    Usable wherever a ``FakeRealtimeServer`` is: ``MemoryTransport(replay)`` or
    ``async with replay.serve() as url``.

    Args:
        steps: The recorded frames.
        pace: ``"instant"`` sends server events as fast as possible; ``"recorded"`` keeps the
            recorded gaps between consecutive server events (when times were recorded).

    Attributes:
        received: Every client event received, in order.
        sent: Every server event sent, in order.
        failures: Divergences (and other server-side failures); :meth:`check` re-raises the
            first.
    """

    def __init__(self, steps: list[ReplayStep], *, pace: str = "instant") -> None:
        if pace not in ("instant", "recorded"):
            raise ValueError(f"pace must be 'instant' or 'recorded', not {pace!r}")
        self.steps = steps
        self.pace = pace
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.failures: list[BaseException] = []
        self.completed = 0

    async def handle(self, socket: ServerSocket) -> None:
        """Serve one connection: replay every step, then wait for the client to close."""
        await socket.accept()
        previous_t: float | None = None
        for index, step in enumerate(self.steps):
            if step.direction == "server":
                if self.pace == "recorded" and step.t is not None and previous_t is not None:
                    await anyio.sleep(max(0.0, step.t - previous_t))
                previous_t = step.t if step.t is not None else previous_t
                await socket.send_text(json.dumps(step.event))
                self.sent.append(step.event)
                continue
            expected = step.event["type"]
            got = await self._receive(socket)
            if got is None:
                await self._diverge(
                    socket, index, step, f"expected client event {expected!r}, the client closed"
                )
                return
            if got.get("type") != expected:
                await self._diverge(
                    socket,
                    index,
                    step,
                    f"expected client event {expected!r}, got {got.get('type')!r}",
                )
                return
        self.completed += 1
        while True:
            got = await self._receive(socket)
            if got is None:
                return
            await self._diverge(
                socket,
                len(self.steps),
                None,
                f"the recording ended, got client event {got.get('type')!r}",
            )
            return

    async def _receive(self, socket: ServerSocket) -> dict[str, Any] | None:
        while True:
            message = await socket.receive()
            if isinstance(message, Close):
                return None
            try:
                event = json.loads(message)
            except ValueError:
                event = {"type": None, "raw": str(message)}
            if not isinstance(event, dict):
                event = {"type": None, "raw": str(message)}
            self.received.append(event)
            return event

    async def _diverge(
        self, socket: ServerSocket, index: int, step: ReplayStep | None, message: str
    ) -> None:
        where = f"step {index + 1} (line {step.line})" if step is not None else "after the end"
        error = ReplayDivergenceError(f"replay diverged at {where}: {message}")
        self.failures.append(error)
        event = {
            "type": "error",
            "event_id": f"event_replay_{index}",
            "error": {
                "type": "invalid_request_error",
                "code": "replay_divergence",
                "message": str(error),
                "param": None,
                "event_id": None,
            },
        }
        await socket.send_text(json.dumps(event))
        self.sent.append(event)
        await socket.close(1011, "replay diverged")

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        """Serve on a real socket; the async context yields the ``ws://`` URL."""
        from ._serve import serve

        return serve(self.handle, host=host, port=port)

    def check(self) -> None:
        """Re-raise the first divergence.

        Raises:
            ReplayDivergenceError: A client did not follow the recording.
        """
        if self.failures:
            raise self.failures[0]
