"""The exceptions this library raises.

Every error is a :class:`RealtimeError`, so an app can catch the library's failures with one
``except`` clause. None of them ever carries an API key: the connection errors keep the status
code and the server's error body, never the request headers, and any text in them that looks
like a credential (``Bearer ...``, ``sk-...``, or a credential the request carried) is masked,
since a hostile or careless server may echo the key back in its error body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._connection_state import ConnectionState


MASK = "***"
# What a credential looks like in text a server wrote: an ``Authorization`` value, or an
# OpenAI key (as the recorder masks them).
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
# Credentials shorter than this are not masked by value: masking a one-letter test key would
# garble every message, and no real key is that short.
_MIN_SECRET = 8


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` and anything that looks like a credential masked.

    Args:
        text: Text that may hold a credential (a server's error body, say).
        secrets: Exact values to mask (the configured key, credential header values); those
            shorter than 8 characters are left alone.
    """
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _KEY.sub("sk-" + MASK, text)


def _mask_json(value: Any, secrets: tuple[str, ...]) -> Any:
    """Mask every string (keys too) of a parsed JSON value, in place where it is a container.

    Iterative: a hostile body may nest deeper than the recursion limit.
    """
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    todo: list[Any] = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            for key in list(node):
                item = node.pop(key)
                if isinstance(item, str):
                    item = mask_secrets(item, secrets)
                elif isinstance(item, (dict, list)):
                    todo.append(item)
                node[mask_secrets(key, secrets) if isinstance(key, str) else key] = item
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = mask_secrets(item, secrets)
                elif isinstance(item, (dict, list)):
                    todo.append(item)
    return value


class RealtimeError(Exception):
    """Base class of every error raised by this library."""


class _EndedError(RealtimeError):
    # The close and the server's last error, in str() and as attributes: what both errors of a
    # connection that may have ended (ConnError, NotConnectedError) tell.

    def __init__(
        self,
        message: str,
        close_code: int | None,
        close_reason: str | None,
        server_error: Mapping[str, Any] | None,
    ) -> None:
        super().__init__(message + _ending(close_code, close_reason, server_error))
        self.close_code = close_code
        self.close_reason = close_reason
        self.server_error_code, self.server_error_message = _error_fields(server_error)


class ConnError(_EndedError):
    """Connecting failed, or the transport failed under an open connection.

    The message and the body are masked (see :func:`mask_secrets`): ``Bearer ...`` and
    ``sk-...`` anywhere in them, and each of ``secrets``.

    Attributes:
        status_code: The HTTP status of the refused handshake, when the server answered HTTP.
        body: The server's parsed JSON error body, when there was one (else the raw text, if any).
        unsent: Messages (as dicts) that the app asked to send and that were not sent.
        close_code: When the connection ended under a send: the close code (else ``None``).
        close_reason: Its reason.
        server_error_code: The ``code`` of the last ``error`` event the server sent, if any.
        server_error_message: Its ``message`` (secrets masked).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: Any = None,
        unsent: tuple[dict[str, Any], ...] = (),
        secrets: Iterable[str] = (),
        close_code: int | None = None,
        close_reason: str | None = None,
        server_error: Mapping[str, Any] | None = None,
    ) -> None:
        secrets = tuple(secrets)
        body = _mask_json(body, secrets)
        message = mask_secrets(message, secrets)
        server_message = _server_message(body)
        if server_message and server_message not in message:
            message = f"{message}: {server_message}"
        super().__init__(message, close_code, close_reason, server_error)
        self.status_code = status_code
        self.body = body
        self.unsent = unsent

    def mask(self, secrets: Iterable[str]) -> None:
        """Mask ``secrets`` in this error's text and body, in place; if an exception it was
        raised from still shows one of them, drop that chain (its text would show it)."""
        secrets = tuple(secrets)
        self.args = tuple(mask_secrets(a, secrets) if isinstance(a, str) else a for a in self.args)
        self.body = _mask_json(self.body, secrets)
        linked: BaseException | None = self.__cause__ or self.__context__
        seen = 0
        while linked is not None and seen < 100:
            if mask_secrets(str(linked), secrets) != str(linked):
                self.__cause__ = None
                self.__context__ = None
                self.__suppress_context__ = True
                return
            linked = linked.__cause__ or linked.__context__
            seen += 1

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


class NotConnectedError(_EndedError):
    """A send was attempted while the connection was not open.

    When the connection was closed, the error says how, also in ``str()``: ``close_code``,
    ``close_reason``, ``server_error_code`` and ``server_error_message`` (the server's last
    ``error`` event, a refused key, say), as :class:`ConnError` has them; ``None`` while it
    had not ended.

    Attributes:
        connection_state: The state the connection was in.
    """

    def __init__(
        self,
        connection_state: ConnectionState,
        *,
        close_code: int | None = None,
        close_reason: str | None = None,
        server_error: Mapping[str, Any] | None = None,
    ) -> None:
        message = f"cannot send: the connection is {connection_state.name}"
        super().__init__(message, close_code, close_reason, server_error)
        self.connection_state = connection_state


def _error_fields(error: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    if error is None:
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code if isinstance(code, str) else None,
        mask_secrets(message) if isinstance(message, str) else None,
    )


def _ending(
    close_code: int | None, close_reason: str | None, server_error: Mapping[str, Any] | None
) -> str:
    """`` (closed with 3000 'reason'; the server's last error: code: message)``, or ``""``."""
    parts = []
    if close_code is not None:
        reason = f" {mask_secrets(close_reason)!r}" if close_reason else ""
        parts.append(f"closed with {close_code}{reason}")
    code, message = _error_fields(server_error)
    if code or message:
        parts.append(f"the server's last error: {': '.join(p for p in (code, message) if p)}")
    return f" ({'; '.join(parts)})" if parts else ""


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
