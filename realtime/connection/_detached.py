"""Detached tasks for the bare ``conn = await realtime.connect(...)`` form.

That form (the seed's ``start_link``) returns a live connection without a task group to run it
in: the caller opened none, and entering one in the caller's task would put it on the caller's
cancel-scope stack, where any scope opened before ``close()`` corrupts the stack. So the
connection's one supervisor task runs detached, as the backend's own kind of background task:
an asyncio task kept referenced until it ends, or a trio system task. This is the only module of
the core that names a backend; anyio offers no public way to spawn outside a task group.

The supervisor never raises (everything ends as the final ``Closed`` event), but a detached
task that did would crash trio's run or be reported as "never retrieved" by asyncio, so the
wrapper logs and swallows anything that escapes. Cancellation (the loop or run shutting down)
passes through.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["spawn"]

logger = logging.getLogger("realtime.connection")

# Strong references: asyncio keeps only weak ones to running tasks.
_asyncio_tasks: set[Any] = set()


async def _guarded(fn: Callable[[], Awaitable[None]]) -> None:
    try:
        await fn()
    except Exception:  # pragma: no cover - the supervisor catches everything itself
        logger.exception("a detached connection task failed")


def _running_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def spawn(fn: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``fn()`` as a background task of the running event loop, outside any task group."""
    if _running_trio():
        import trio

        trio.lowlevel.spawn_system_task(_guarded, fn, name=name)
        return
    import asyncio  # noqa: TID251 - the one backend-specific spawn of the core

    task = asyncio.get_running_loop().create_task(_guarded(fn), name=name)
    _asyncio_tasks.add(task)
    task.add_done_callback(_asyncio_tasks.discard)
