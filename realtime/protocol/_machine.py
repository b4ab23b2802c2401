"""The sans-I/O Realtime protocol: state, parsing, encoding. No sockets, no tasks, no awaits.

The I/O driver (``_connection.py``) feeds what the transport received into the verb methods
(``receive_text``, ``receive_bytes``, ``receive_close``), reports what it did
(``handshake_succeeded``, ``send_close``, ``fail``) and drains the resulting events with
``events_received``. The parser never raises on bad input: a frame that is not a valid event
becomes a :class:`~realtime.events.FrameError` event and the connection stays open. Encoding
raises before anything is sent, so a list of messages goes out whole or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import FrameEncodeError, InvalidFrameError, NotConnectedError, mask_secrets
from ..events import Closed, Connected, Event, FrameError, parse_text
from ._frames import BinaryFrame, Frame, PingFrame, PongFrame, TextFrame
from ._state import ConnectionState, Trigger, next_state

__all__ = ["Protocol"]

logger = logging.getLogger("realtime.protocol")

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_CLOSE_OK = (1000, 1001)


class Protocol:
    """The state machine of one connection.

    Args:
        max_message_size: Largest incoming message accepted; a larger one starts a close with
            code 1009. ``None`` accepts any size.
        parse: Turns a text frame into an event (a translation session's parser, say).
    """

    def __init__(
        self,
        *,
        max_message_size: int | None = None,
        parse: Callable[[str], Event] = parse_text,
    ) -> None:
        self._parse = parse
        self._state = ConnectionState.CONNECTING
        self._events: list[Event] = []
        self._max_message_size = max_message_size
        # The close we initiated, reported in the final Closed event (the peer's echo may not
        # repeat the reason), and a close the driver still has to put on the wire.
        self._local_close: tuple[int, str] | None = None
        self._close_to_send: tuple[int, str] | None = None
        self.last_close: Closed | None = None
        """The last link's ``Closed``: what a refused send reports."""
        self.last_error: dict[str, Any] | None = None
        """The ``error`` object of the last ``error`` event received."""

    @property
    def state(self) -> ConnectionState:
        """The current :class:`~realtime.ConnectionState`."""
        return self._state

    @state.setter
    def state(self, value: ConnectionState) -> None:
        logger.debug("connection state %s -> %s", self._state.name, value.name)
        self._state = value

    def _move(self, trigger: Trigger) -> None:
        self.state = next_state(self._state, trigger)

    # -- what happened on the wire -------------------------------------------------------

    def handshake_succeeded(self, url: str) -> None:
        """The transport completed the upgrade.

        Raises:
            LocalProtocolError: The connection was not CONNECTING.
        """
        self._move(Trigger.HANDSHAKE_OK)
        self._local_close = None
        self._close_to_send = None
        self.last_error = None
        self._events.append(Connected(url=url))

    def handshake_failed(self) -> None:
        """The upgrade failed; the caller raises the transport's :class:`ConnError`.

        Raises:
            LocalProtocolError: The connection was not CONNECTING.
        """
        self._move(Trigger.HANDSHAKE_FAILED)

    def receive_text(self, text: str) -> None:
        """Parse one received text message into an event (or a FrameError event)."""
        if self._state > ConnectionState.CLOSING or self._state is ConnectionState.CONNECTING:
            return
        limit = self._max_message_size
        if limit is not None and len(text) > limit:
            self._too_big(len(text))
            return
        event: Event
        try:
            event = self._parse(text)
        except InvalidFrameError as exc:
            event = FrameError(error=exc, raw=text)
        else:
            if event.type == "error":
                # Kept to explain a refusal later: a send after the close says why it closed.
                error = event.raw.get("error")
                self.last_error = error if isinstance(error, dict) else None
        self._events.append(event)

    def receive_bytes(self, data: bytes) -> None:
        """Record a received binary message: not part of the protocol, so a FrameError."""
        if self._state is not ConnectionState.OPEN and self._state is not ConnectionState.CLOSING:
            return
        limit = self._max_message_size
        if limit is not None and len(data) > limit:
            self._too_big(len(data))
            return
        error = InvalidFrameError(
            "received a binary frame; the Realtime protocol sends JSON text frames", frame=data
        )
        self._events.append(FrameError(error=error, raw=data))

    def _too_big(self, size: int) -> None:
        reason = f"message of {size} exceeds max_message_size={self._max_message_size}"
        if self._state is ConnectionState.OPEN:
            self._move(Trigger.CLOSE_SENT)
            self._local_close = self._close_to_send = (1009, reason)

    def receive_close(self, code: int, reason: str = "") -> None:
        """The connection ended: the peer's close frame, or code 1006 for a lost connection."""
        if self._state is ConnectionState.CLOSED:
            return
        lost = code == 1006
        trigger = Trigger.CONNECTION_LOST if lost else Trigger.CLOSE_RECEIVED
        if self._local_close is not None and self._state is ConnectionState.CLOSING:
            code, reason = self._local_close
        self._move(trigger)
        self._closed(Closed(code=code, reason=reason, clean=not lost))

    def _closed(self, closed: Closed) -> None:
        error = self.last_error
        if error is not None:
            # Server text: a key it echoes back is masked, as in our errors.
            message = error.get("message")
            if isinstance(message, str):
                error = {**error, "message": mask_secrets(message)}
            closed = dataclasses.replace(closed, server_error=error)
        self.last_close = closed
        self._events.append(closed)

    # -- what we do ------------------------------------------------------------------------

    def send_close(self, code: int = 1000, reason: str = "") -> bool:
        """Start closing. Returns whether a close frame must be sent now.

        Idempotent: closing a connection that is closing or closed does nothing.
        """
        if self._state is ConnectionState.OPEN:
            self._move(Trigger.CLOSE_SENT)
            self._local_close = (code, reason)
            return True
        if self._state is ConnectionState.CONNECTING:
            self._move(Trigger.CLOSE_SENT)
        return False

    def close_to_send(self) -> tuple[int, str] | None:
        """A close frame the protocol decided on by itself (e.g. 1009), to send once."""
        pending, self._close_to_send = self._close_to_send, None
        return pending

    def close_timed_out(self, timeout: float) -> None:
        """The peer did not answer our close frame in time."""
        if self._state is ConnectionState.CLOSING:
            code, _ = self._local_close or (1000, "")
            self._move(Trigger.CLOSE_TIMEOUT)
            reason = f"no close frame from the peer within {timeout} s"
            self._closed(Closed(code=code, reason=reason, clean=False))

    def fail(self, code: int, reason: str) -> None:
        """End the connection from our side without a closing handshake."""
        if self._state is ConnectionState.OPEN or self._state is ConnectionState.CLOSING:
            self._move(Trigger.CONNECTION_LOST)
            self._closed(Closed(code=code, reason=reason, clean=False))

    def reconnecting(self) -> None:
        """Go from CLOSED back to CONNECTING for a new handshake.

        Raises:
            LocalProtocolError: The connection was not CLOSED.
        """
        self._move(Trigger.RECONNECT)

    # -- what we send ----------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state is not ConnectionState.OPEN:
            raise NotConnectedError(self._state)

    def encode(self, message: Mapping[str, Any] | list[Mapping[str, Any]]) -> list[str]:
        """Encode one message or a list of them as JSON texts, all before any is sent.

        Raises:
            NotConnectedError: The connection is not OPEN.
            FrameEncodeError: A message is not a dict with a string ``type``, or holds a value
                JSON cannot represent (NaN, Infinity, bytes, sets, ...). Nothing was encoded.
        """
        self._require_open()
        return encode_messages(message)

    def check_frame(self, frame: Frame) -> Frame:
        """Validate a raw frame before it is sent.

        Raises:
            NotConnectedError: The connection is not OPEN.
            InvalidFrameError: Not one of the frame classes, wrong payload type, or a control
                frame payload over 125 bytes.
        """
        self._require_open()
        return check_frame(frame)

    def emit(self, event: Event) -> None:
        """Queue an event the driver made (a reconnect notice) behind those received."""
        self._events.append(event)

    def pending_events(self) -> list[Event]:
        """The events not yet taken, as a live list the driver may edit (see ``_read``)."""
        return self._events

    def events_received(self) -> list[Event]:
        """Take the events produced since the last call, in order."""
        events, self._events = self._events, []
        return events


def encode_messages(message: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[str]:
    """Encode messages as compact JSON texts; see :meth:`Protocol.encode`.

    Raises:
        FrameEncodeError: A message cannot be encoded.
    """
    messages = message if isinstance(message, (list, tuple)) else [message]
    texts: list[str] = []
    for index, item in enumerate(messages):
        if not isinstance(item, Mapping):
            raise FrameEncodeError(
                f"message {index} is a {type(item).__name__}, not a dict",
                message=item,
                index=index,
            )
        if not isinstance(item.get("type"), str):
            raise FrameEncodeError(
                f"message {index} has no string 'type'", message=item, index=index
            )
        try:
            texts.append(_ENCODER.encode(item))
        except (TypeError, ValueError, RecursionError) as exc:
            raise FrameEncodeError(
                f"message {index} ({item['type']}) cannot be encoded as JSON: {exc}",
                message=item,
                index=index,
            ) from exc
    return texts


def check_frame(frame: Frame) -> Frame:
    """Validate a raw frame; see :meth:`Protocol.check_frame`.

    Raises:
        InvalidFrameError: The frame is not valid to send.
    """
    if isinstance(frame, TextFrame):
        if not isinstance(frame.text, str):
            raise InvalidFrameError("TextFrame.text must be a str", frame=frame)
    elif isinstance(frame, BinaryFrame):
        if not isinstance(frame.data, (bytes, bytearray, memoryview)):
            raise InvalidFrameError("BinaryFrame.data must be bytes", frame=frame)
    elif isinstance(frame, (PingFrame, PongFrame)):
        if not isinstance(frame.data, (bytes, bytearray, memoryview)):
            raise InvalidFrameError(f"{type(frame).__name__}.data must be bytes", frame=frame)
        if len(frame.data) > 125:
            raise InvalidFrameError(
                f"{type(frame).__name__} payload is {len(frame.data)} bytes; at most 125",
                frame=frame,
            )
    else:
        raise InvalidFrameError(
            f"{type(frame).__name__} is not a frame: use TextFrame, BinaryFrame, PingFrame "
            "or PongFrame (close with Connection.aclose())",
            frame=frame,
        )
    return frame
