"""``connect()``: build the request, make the :class:`Connection`, and run its supervisor task
where the caller asked (an ``async with`` of its own, the caller's task group, or detached).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from itertools import count
from typing import Any

from anyio.abc import TaskGroup

from .._config import ConnectRequest, ModelConfig, build_request
from ..transports._base import Transport
from . import _detached
from ._connection import Connection
from ._dispatch import Listener
from ._lifespan import Held, in_task_group
from ._reconnect import ReconnectPolicy

__all__ = ["DEFAULT_MODEL", "connect"]

DEFAULT_MODEL = "gpt-realtime"

_ids = count(1)


class _ConnectCall(Held[Connection]):
    """What :func:`connect` returns: await it, or use it as an async context manager."""

    def __init__(
        self,
        make: Callable[[], Awaitable[tuple[Connection, ConnectRequest]]],
        task_group: TaskGroup | None,
    ) -> None:
        self._make = make
        self._task_group = task_group
        self._opened: Connection | None = None

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._connect().__await__()

    async def _connect(self) -> Connection:
        connection, request = await self._make()
        run = functools.partial(connection._run, request)
        name = f"realtime connection {next(_ids)}"
        tg = self._task_group
        if tg is not None:
            await connection._open(request, lambda: tg.start_soon(run, name=name))
        else:
            await connection._open(request, lambda: _detached.spawn(run, name))
        return connection

    def _hold(self) -> AsyncGenerator[Connection, None]:
        if self._task_group is not None:
            return self._hold_in_callers_group()
        return in_task_group(self._open_in, self._close_opened)

    async def _hold_in_callers_group(self) -> AsyncGenerator[Connection, None]:
        connection = await self._connect()
        try:
            yield connection
        finally:
            await connection.aclose()

    async def _open_in(self, tg: TaskGroup) -> Connection:
        connection, request = await self._make()
        run = functools.partial(connection._run, request)
        await connection._open(request, lambda: tg.start_soon(run, name="realtime"))
        self._opened = connection
        return connection

    async def _close_opened(self) -> None:
        connection, self._opened = self._opened, None
        if connection is not None:
            await connection.aclose()


def _default_transport() -> Transport:
    # The only place the core names a concrete transport, imported on first use so that
    # ``import realtime`` does not pull in httpx.
    from ..transports import HttpxWsTransport

    return HttpxWsTransport()


def connect(
    config: ModelConfig | None = None,
    *,
    model: str | None = None,
    session: Listener | None = None,
    transport: Transport | None = None,
    event_buffer: int = 4096,
    reconnect: ReconnectPolicy | None = None,
    task_group: TaskGroup | None = None,
    translation: bool = False,
) -> _ConnectCall:
    """Open a Realtime connection; returns once it is OPEN.

    Three forms, all safe inside any cancel scope:

    - ``async with realtime.connect(...) as conn:`` runs the connection in a task group of
      the ``async with`` statement and closes it on the way out;
    - ``conn = await realtime.connect(..., task_group=tg)`` runs it in the caller's task group
      (cancelling ``tg`` ends it with a final ``Closed``);
    - ``conn = await realtime.connect(...)`` runs it as a background task of the event loop.

    The last two return a connection to close with ``await conn.aclose()`` (from any task) or
    ``async with conn:``.

    Args:
        config: Where and how to connect; defaults to ``ModelConfig()`` (the OpenAI endpoint,
            key from ``OPENAI_API_KEY``).
        model: The model for ``?model=``; defaults to ``"gpt-realtime"`` unless
            ``config.call_id`` is set.
        session: The owner's handler: receives every event before the listeners.
        transport: How to reach the server; defaults to :class:`HttpxWsTransport`.
        reconnect: Reconnect after a recoverable close (see :class:`ReconnectPolicy`); off
            by default.
        event_buffer: Events kept for ``async for`` while nobody iterates; beyond that the
            iterator reports a :class:`BufferOverflowError` in place of the missing events
            (listeners are not affected). 0 disables buffering for iteration.
        task_group: Run the connection's task in this task group instead of its own.
        translation: Open a live translation session (``<url>/translations?model=...``);
            its events parse into :mod:`realtime.events.translation`.

    Raises:
        ConnError: The handshake failed (HTTP status and error body attached when the server
            answered), the URL or key is unusable, or the connect timed out.
    """
    config = config if config is not None else ModelConfig()
    if model is None and config.call_id is None:
        model = DEFAULT_MODEL

    async def make() -> tuple[Connection, ConnectRequest]:
        request = await build_request(config, model, translation=translation)
        connection = Connection(
            config,
            model=model,
            session=session,
            transport=transport if transport is not None else _default_transport(),
            event_buffer=max(0, event_buffer),
            reconnect=reconnect,
            translation=translation,
        )
        return connection, request

    return _ConnectCall(make, task_group)
