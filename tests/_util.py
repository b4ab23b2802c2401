"""Test helpers: a listener that records events and lets a test wait for one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio

from realtime import ConnectRequest
from realtime.transports import Channel, Transport


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


class PingSpy(Transport):
    """Wraps a transport and counts keepalive pings whose pong came back."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.answered = 0
        self._changed = anyio.Event()

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: ConnectRequest) -> AsyncIterator[Channel]:
        async with self.inner.connect(request) as channel:
            original = channel.send_ping

            async def send_ping(data: bytes = b"") -> anyio.Event:
                pong = await original(data)

                async def count() -> None:
                    await pong.wait()
                    self.answered += 1
                    changed, self._changed = self._changed, anyio.Event()
                    changed.set()

                tg.start_soon(count)
                return pong

            channel.send_ping = send_ping  # type: ignore[method-assign]
            async with anyio.create_task_group() as tg:
                yield channel
                tg.cancel_scope.cancel()

    async def answered_at_least(self, count: int) -> None:
        with anyio.fail_after(5):
            while self.answered < count:
                await self._changed.wait()
