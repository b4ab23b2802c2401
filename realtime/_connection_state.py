"""The connection's state, below both the errors that report it and the state table that
moves it (``protocol/_state.py``): so that neither imports the other for a name."""

from __future__ import annotations

import enum

__all__ = ["ConnectionState"]


class ConnectionState(enum.IntEnum):
    """Where a connection is in its life. Ordered: a later state compares greater."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3

    # IntEnum prints as a bare number since Python 3.11; a state in a log should read as one.
    __str__ = enum.Enum.__str__
