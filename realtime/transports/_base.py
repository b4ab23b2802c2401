"""The I/O edge: what a transport must provide to carry one Realtime connection.

A transport opens a :class:`Channel` for a :class:`~realtime.ConnectRequest` as an async
context manager, so that libraries which run background tasks per socket (httpx-ws does) enter
and leave them in the same task. The core enters it in the connection's reader task.

Contract for implementers:

- ``connect`` raises :class:`~realtime.ConnError` when the handshake fails, with the HTTP
  status and body when the server answered HTTP. It never lets a library's own exception types
  (or an ``ExceptionGroup``) escape.
- ``receive`` returns ``str`` for a text message, ``bytes`` for a binary one, and
  :class:`Close` once the connection ended: with the peer's code and reason, or code 1006 when
  it was lost without a close frame. After a :class:`Close`, ``receive`` is not called again.
  Control frames are handled inside the transport (pongs to pings are the transport's job).
- A transport that fails the connection itself sends the close frame and returns that
  :class:`Close`: 1009 for a message over ``request.max_message_size`` (stopped while it
  arrives, never buffered whole; see :func:`too_big`), 1007 for invalid UTF-8 in a text
  message, 1002 for a protocol error.
- ``connect`` never follows a redirect, and its errors never show a credential (see
  :func:`upgrade_refused`).
- The ``send_*`` methods raise :class:`~realtime.ConnError` if the connection is gone.
- ``receive`` and the ``send_*`` methods may run concurrently (one receiver, one sender at a
  time: the core serialises sends).
- ``abort()`` is synchronous and may be called at any time, from any task; after it, leaving
  the context must not wait for the peer.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import NamedTuple
from urllib.parse import urlsplit

import anyio

from .._config import ConnectRequest
from .._errors import ConnError

__all__ = [
    "Channel",
    "Close",
    "Received",
    "Transport",
    "host_port",
    "too_big",
    "upgrade_refused",
]


class Close(NamedTuple):
    """The end of a connection as seen by the receiver."""

    code: int
    reason: str = ""


Received = str | bytes | Close


def too_big(limit: int) -> Close:
    """The :class:`Close` a transport reports after stopping a message over ``limit``."""
    return Close(1009, f"message exceeds max_message_size={limit}")


class Channel(abc.ABC):
    """One open WebSocket connection."""

    @abc.abstractmethod
    async def receive(self) -> Received:
        """Wait for the next message, or the :class:`Close` that ends the connection."""

    async def receive_many(self) -> list[Received]:
        """Return at least one received item, and any more that are ready without waiting.

        Transports that can drain a buffer cheaply override this; it lets the core parse a
        burst of events with one task switch instead of one per event.
        """
        return [await self.receive()]

    @abc.abstractmethod
    async def send_text(self, text: str) -> None:
        """Send one text message."""

    @abc.abstractmethod
    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""

    @abc.abstractmethod
    async def send_ping(self, data: bytes = b"") -> anyio.Event:
        """Send a ping; the returned event is set when the matching pong arrives."""

    @abc.abstractmethod
    async def send_pong(self, data: bytes = b"") -> None:
        """Send an unsolicited pong."""

    @abc.abstractmethod
    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the peer's answer arrives through ``receive``.

        Leaving the transport's context without an ``abort()`` before may finish this
        handshake (bounded by the request's ``close_timeout``).
        """

    def abort(self) -> None:  # noqa: B027 - optional hook; the default exit is then bounded
        """The connection failed or was aborted: leaving the context must not wait for the peer.

        Called by the core (from any task) before it leaves the context of a link that failed
        (no pong, a stalled write) or that the app aborted. A transport whose exit waits for
        the peer's close frame drops the connection at once instead.
        """


class Transport(abc.ABC):
    """Opens channels. One transport may open many, one after another or at once."""

    @abc.abstractmethod
    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        """Open a channel for ``request``; leaving the context releases it without ceremony."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the transport holds (an owned HTTP client, say)."""

    async def close(self) -> None:
        """The same as :meth:`aclose`, kept as an alias: ``aclose`` is the one verb for ending
        a connection, a session or a transport. Subclasses override ``aclose``."""
        await self.aclose()


def upgrade_refused(
    status: int, body: bytes, *, secrets: Iterable[str] = (), location: str | None = None
) -> ConnError:
    """The :class:`~realtime.ConnError` for an upgrade the server answered with HTTP ``status``.

    The body is parsed as JSON when it is JSON (the usual ``{"error": {...}}``), else kept as
    text, so ``str(error)`` carries the server's message either way. Credentials in it are
    masked: ``secrets`` (see :func:`~realtime._config.credentials`) and anything that looks
    like a key, because a server may echo the key it refused. A redirect (3xx) says where it
    pointed: no transport follows one, so credentials never reach another address.
    """
    parsed: object = None
    if body:
        parsed = body.decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python goes
            pass
    message = f"the server refused the WebSocket upgrade with HTTP {status}"
    if 300 <= status < 400:
        where = f" to {location}" if location else ""
        message = (
            f"the server redirected the WebSocket upgrade (HTTP {status}{where}); redirects "
            "are not followed, so that credentials never reach another address"
        )
    return ConnError(message, status_code=status, body=parsed, secrets=secrets)


def host_port(url: str) -> str:
    """``host:port`` of ``url`` for error messages: never its userinfo, path or query."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
