"""Run an async generator as the body of the caller's ``async with``.

``async with realtime.connect(...)`` and ``async with Session(...)`` own a task group for the
connection's life. The group must be entered and left by the caller's own ``async with``
statement, so that it nests in the caller's cancel scopes like any nested ``async with``:
entering it by hand in one call and leaving it in another is what corrupted the scope stack.
The group is therefore written as ``async with`` inside an async generator, and the object's
``__aenter__``/``__aexit__`` advance that generator (what ``contextlib.asynccontextmanager``
does; these objects must also be awaitable, which its class is not).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

__all__ = ["Held", "Lifespan", "in_task_group"]

T = TypeVar("T")


class Lifespan(Generic[T]):
    """The generator ``gen`` yields once: what ``async with`` binds; the rest is the exit."""

    __slots__ = ("_gen",)

    def __init__(self, gen: AsyncGenerator[T, None]) -> None:
        self._gen = gen

    async def enter(self) -> T:
        """Run the generator up to its ``yield``.

        Raises:
            Exception: Whatever the generator raised before yielding.
        """
        return await anext(self._gen)

    async def exit(self, exc: BaseException | None) -> bool:
        """Resume the generator after the body; ``exc`` is thrown in at the ``yield``.

        Returns whether ``exc`` was suppressed (as ``__aexit__`` does).

        Raises:
            BaseException: What the generator raised, when it is not ``exc`` itself.
        """
        if exc is None:
            try:
                await anext(self._gen)
            except StopAsyncIteration:
                return False
        else:
            try:
                await self._gen.athrow(exc)
            except StopAsyncIteration:
                return True
            except BaseException as raised:
                if raised is exc:
                    return False
                raise
        raise RuntimeError("a lifespan generator must yield exactly once")


class Held(Generic[T]):
    """``async with`` over ``self._hold()``, an async generator that yields once."""

    _lifespan: Lifespan[T] | None = None

    def _hold(self) -> AsyncGenerator[T, None]:
        raise NotImplementedError

    async def __aenter__(self) -> T:
        self._lifespan = Lifespan(self._hold())
        return await self._lifespan.enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is None:  # pragma: no cover - __aexit__ without __aenter__
            return False
        return await lifespan.exit(exc)


async def in_task_group(
    open_: Callable[[TaskGroup], Awaitable[T]], close: Callable[[], Awaitable[None]]
) -> AsyncGenerator[T, None]:
    """A lifespan in a task group of its own: ``open_(group)`` gives what ``async with``
    binds; ``close()`` runs after the body, or after ``open_`` failed, in the group.

    Raises:
        Exception: What ``open_`` or the body raised, as itself: it is raised after the group,
            never wrapped in an exception group (the group holds only our tasks, which never
            raise). ``close`` must not raise (``aclose`` does not).
    """
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        try:
            value = await open_(group)
        except Exception as exc:
            failure = exc
        else:
            try:
                yield value
            except Exception as exc:
                failure = exc
        finally:
            await close()
    if failure is not None:
        raise failure
