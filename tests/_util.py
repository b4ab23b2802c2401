"""Test helpers: a listener that records events and lets a test wait for one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio


class EventLog:
    """A listener that keeps every event and wakes waiters; use ``await log.wait_for(...)``."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = anyio.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    async def wait_for(
        self, match: str | type | Callable[[Any], bool], *, timeout: float = 5.0
    ) -> Any:
        """Wait until an event matching a type string, a class or a predicate was seen."""
        if isinstance(match, str):
            type_name = match

            def predicate(event: Any) -> bool:
                return bool(event.type == type_name)
        elif isinstance(match, type):
            cls = match

            def predicate(event: Any) -> bool:
                return isinstance(event, cls)
        else:
            predicate = match
        with anyio.fail_after(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._changed.wait()
