"""Version shims, and unwrapping of the exception groups task groups raise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    from builtins import BaseExceptionGroup
else:  # pragma: no cover - depends on the interpreter
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BaseExceptionGroup", "single_exception"]


@contextmanager
def single_exception() -> Iterator[None]:
    """Re-raise a task group's lone exception as itself, not wrapped in a group.

    Task groups wrap even one failure in an exception group; our API promises typed errors,
    so at each task-group boundary a group of one is unwrapped (recursively). A group of
    several is a real multi-failure and is left alone.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        inner: BaseException = group
        while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
            inner = inner.exceptions[0]
        if inner is group:
            raise
        raise inner from inner.__cause__
