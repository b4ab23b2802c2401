"""The exceptions this library raises.

Every error is a :class:`RealtimeError`, so an app can catch the library's failures with one
``except`` clause. None of them ever carries an API key: the connection errors keep the status
code and the server's error body, never the request headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._state import ConnectionState


class RealtimeError(Exception):
    """Base class of every error raised by this library."""


class ConnError(RealtimeError):
    """Connecting failed, or the transport failed under an open connection.

    Attributes:
        status_code: The HTTP status of the refused handshake, when the server answered HTTP.
        body: The server's parsed JSON error body, when there was one (else the raw text, if any).
        unsent: Messages (as dicts) that the app asked to send and that were not sent.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        unsent: tuple[dict[str, Any], ...] = (),
    ) -> None:
        server_message = _server_message(body)
        if server_message and server_message not in message:
            message = f"{message}: {server_message}"
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.unsent = unsent

    @property
    def error_code(self) -> str | None:
        """The ``error.code`` of the server's JSON error body, if any."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return code if isinstance(code, str) else None


def _server_message(body: Any) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return None


class FrameEncodeError(RealtimeError):
    """A message could not be encoded as a JSON text frame; nothing was sent.

    Attributes:
        message: The offending message, as given.
        index: Its position in the list passed to ``send_message`` (0 for a single message).
    """

    def __init__(self, reason: str, *, message: Any = None, index: int = 0) -> None:
        super().__init__(reason)
        self.message = message
        self.index = index


class InvalidFrameError(RealtimeError):
    """A frame that is not valid to send, or a received frame that is not a valid event.

    Attributes:
        frame: The frame concerned: the object passed to ``send_frame``, or the received
            text or bytes.
    """

    def __init__(self, reason: str, *, frame: object = None) -> None:
        super().__init__(reason)
        self.frame = frame


class NotConnectedError(RealtimeError):
    """A send was attempted while the connection was not open.

    Attributes:
        connection_state: The state the connection was in.
    """

    def __init__(self, connection_state: ConnectionState) -> None:
        super().__init__(f"cannot send: the connection is {connection_state.name}")
        self.connection_state = connection_state


class LocalProtocolError(RealtimeError):
    """An illegal state transition was requested: a bug in the caller of the state machine.

    Attributes:
        trigger: The name of what was attempted.
        connection_state: The state the machine was in.
    """

    def __init__(self, trigger: str, connection_state: ConnectionState) -> None:
        super().__init__(f"{trigger!r} is not allowed in state {connection_state.name}")
        self.trigger = trigger
        self.connection_state = connection_state


class BufferOverflowError(RealtimeError):
    """The ``async for`` event buffer overflowed because nobody iterated fast enough.

    Listeners still received every event; only the iterator has a gap, which this error reports
    instead of hiding.

    Attributes:
        dropped: How many events the iterator missed.
    """

    def __init__(self, dropped: int) -> None:
        super().__init__(
            f"the event iteration buffer overflowed; {dropped} events were not buffered "
            "(raise event_buffer, or iterate sooner)"
        )
        self.dropped = dropped


class SendQueueFullError(RealtimeError):
    """A message could not be queued while reconnecting: the queue's byte budget is spent.

    Nothing of the message was queued or sent.

    Attributes:
        unsent: The messages (as dicts) of the refused call.
    """

    def __init__(self, limit: int, unsent: tuple[dict[str, Any], ...]) -> None:
        super().__init__(f"the reconnect send queue is full ({limit} bytes); message not queued")
        self.unsent = unsent
