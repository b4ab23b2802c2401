"""Connection states and the one table of legal transitions.

Theory of operation
-------------------
A connection lives through four states::

    CONNECTING --handshake_ok--> OPEN --close_sent--> CLOSING --close_received--> CLOSED
         |                        |                      |
         +--handshake_failed--+   +--close_received--+   +--connection_lost / close_timeout--+
                              v                      v                                       v
                            CLOSED                 CLOSED                                  CLOSED

Everything the sans-I/O protocol (``_protocol.py``) does that changes the state goes through
:func:`next_state`, which looks the move up in ``TRANSITIONS``. A move that is not in the table
is a bug in the code driving the machine, never a network condition, so it raises
:class:`~realtime.LocalProtocolError` naming the trigger and the state. Network conditions
(a peer that closes twice, a frame after the close) are absorbed by the protocol before they
reach the table: it asks ``can`` first where the peer, not we, decides what happens.

``CLOSED -> CONNECTING`` exists for reconnection: the same ``Connection`` object goes through
the handshake again, so listeners and the ``async for`` iterator survive a reconnect.
"""

from __future__ import annotations

import enum

from .._connection_state import ConnectionState
from .._errors import LocalProtocolError

__all__ = ["TRANSITIONS", "ConnectionState", "Trigger", "can", "next_state"]


class Trigger(str, enum.Enum):
    """What moves a connection from one state to another."""

    HANDSHAKE_OK = "handshake_ok"
    HANDSHAKE_FAILED = "handshake_failed"
    CLOSE_SENT = "close_sent"
    CLOSE_RECEIVED = "close_received"
    CONNECTION_LOST = "connection_lost"
    CLOSE_TIMEOUT = "close_timeout"
    RECONNECT = "reconnect"


_S = ConnectionState
_T = Trigger

TRANSITIONS: dict[tuple[ConnectionState, Trigger], ConnectionState] = {
    (_S.CONNECTING, _T.HANDSHAKE_OK): _S.OPEN,
    (_S.CONNECTING, _T.HANDSHAKE_FAILED): _S.CLOSED,
    # close() before the handshake finished: nothing to say to the peer, abandon.
    (_S.CONNECTING, _T.CLOSE_SENT): _S.CLOSED,
    (_S.OPEN, _T.CLOSE_SENT): _S.CLOSING,
    # The peer closed first; the transport answers its close frame, so we are done.
    (_S.OPEN, _T.CLOSE_RECEIVED): _S.CLOSED,
    (_S.OPEN, _T.CONNECTION_LOST): _S.CLOSED,
    (_S.CLOSING, _T.CLOSE_RECEIVED): _S.CLOSED,
    (_S.CLOSING, _T.CONNECTION_LOST): _S.CLOSED,
    (_S.CLOSING, _T.CLOSE_TIMEOUT): _S.CLOSED,
    (_S.CLOSED, _T.RECONNECT): _S.CONNECTING,
}


def can(state: ConnectionState, trigger: Trigger) -> bool:
    """Tell whether ``trigger`` is a legal move from ``state``."""
    return (state, trigger) in TRANSITIONS


def next_state(state: ConnectionState, trigger: Trigger) -> ConnectionState:
    """Return the state that ``trigger`` leads to from ``state``.

    Raises:
        LocalProtocolError: The move is not in the table.
    """
    try:
        return TRANSITIONS[state, trigger]
    except KeyError:
        raise LocalProtocolError(trigger.value, state) from None
