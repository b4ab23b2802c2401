"""Serving a fake from a background thread with its own event loop.

A test may run on asyncio (pytest-asyncio, anyio), on trio, or on no loop at all (a sync test
that drives the app in a subprocess). Served from a thread of its own, through anyio's blocking
portal, the fake depends on none of them. Its state then belongs to that thread's loop: the
fake's async methods called from another thread (the test's loop) run there, through the portal
(:func:`run_at_home`), and its sync scripting methods only touch plain containers.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["Home", "run_at_home", "serve_in_thread"]

T = TypeVar("T")


@dataclass(frozen=True)
class Home:
    """The thread (and its portal) whose event loop serves a fake."""

    portal: BlockingPortal
    thread_id: int

    def is_current(self) -> bool:
        return threading.get_ident() == self.thread_id


async def run_at_home(home: Home, function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``function(*args)`` in the fake's own loop, from another thread's loop.

    The calling task waits in a worker thread, so any loop (asyncio, trio) can await this;
    cancelled, it stops waiting (the call itself is cancelled when the fake stops serving).
    """
    result: T = await anyio.to_thread.run_sync(
        home.portal.call, function, *args, abandon_on_cancel=True
    )
    return result


class Servable(Protocol):
    """What this module needs of a fake (``FakeRealtimeServer`` provides it): no import of
    the server, which sits on a higher floor and imports this module."""

    _home: Home | None

    def serve(self, host: str = ..., port: int = ...) -> AbstractAsyncContextManager[str]: ...


@contextmanager
def serve_in_thread(fake: Servable, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``fake`` on ``host:port`` from a new thread with its own event loop.

    Yields:
        The ``ws://`` URL, as ``FakeRealtimeServer.serve`` gives it.

    Raises:
        RuntimeError: ``fake`` is already served from a thread.
    """
    if fake._home is not None:
        raise RuntimeError("this fake is already served from a background thread")
    with start_blocking_portal("asyncio") as portal:
        fake._home = Home(portal, portal.call(threading.get_ident))
        try:
            with portal.wrap_async_context_manager(fake.serve(host, port)) as url:
                yield url
        finally:
            fake._home = None
