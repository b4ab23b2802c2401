"""The server end of a connection, as a server-side handler sees it.

The fake Realtime server is written against :class:`ServerSocket`; the in-memory transport and
the loopback WebSocket listener each provide one, so the fake behaves the same both ways.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from ._base import Close

__all__ = ["ServerSocket"]


class ServerSocket(abc.ABC):
    """One client connection, from the server's side.

    Attributes:
        path: The request path, e.g. ``/v1/realtime``.
        query: The query parameters (the last value wins for a repeated name).
        headers: The handshake headers, in order, as sent.
        answer_pings: Whether pings from the client are answered. Set to ``False`` to
            simulate a server that stopped answering (fault injection).
    """

    path: str
    query: Mapping[str, str]
    headers: tuple[tuple[str, str], ...]
    answer_pings: bool = True

    @abc.abstractmethod
    async def accept(self) -> None:
        """Complete the WebSocket upgrade."""

    @abc.abstractmethod
    async def reject(
        self, status_code: int, body: bytes = b"", content_type: str = "application/json"
    ) -> None:
        """Refuse the upgrade with an HTTP answer."""

    @abc.abstractmethod
    async def receive(self) -> str | bytes | Close:
        """The next message from the client, or :class:`Close` once it ended (1006 if lost)."""

    @abc.abstractmethod
    async def send_text(self, text: str) -> None:
        """Send a text message; does nothing once the connection ended."""

    @abc.abstractmethod
    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message; does nothing once the connection ended."""

    @abc.abstractmethod
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame; the client's answer arrives through ``receive``."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Drop the connection without a close frame (the client sees 1006)."""
