"""A recording proxy: any Realtime client on one side, the real service (or a fake) on the other.

``realtime fake record --upstream URL --out FILE`` serves this on loopback. A client (in any
language: the official SDKs, openai-agents, a browser gateway) connects to the proxy as to the
service (``ws://127.0.0.1:<port>/v1/realtime?model=...``). For each connection the proxy opens
the upstream connection with the client's query (added to ``URL``'s) and handshake headers,
then forwards every message both ways, unchanged (text as text, binary as binary) and in the
order it arrived, and records the text frames with :class:`realtime.Recorder` (JSON lines, a
``meta`` line per connection; credentials redacted). ``realtime replay FILE`` (or
``FakeRealtimeServer.replay``) then serves the recording.

Credentials: the client's are forwarded, unless they are a dummy (missing, or shorter than
:data:`DUMMY_KEY_LENGTH` characters, like ``sk-test``) and the proxy has an upstream key; the
upstream key then replaces them, in the header the client used (``api-key`` for Azure,
``Authorization: Bearer`` otherwise). A refused upstream handshake reaches the client as the
same HTTP status and body (JSON bodies re-encoded); an unreachable upstream as a 502.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from ssl import SSLContext
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from realtime import ConnError, Recorder
from realtime._config import ConnectRequest
from realtime.transports import Channel, Close, ServerSocket, Transport

from ._serve import serve

__all__ = ["DUMMY_KEY_LENGTH", "RecordingProxy"]

logger = logging.getLogger("fakes.proxy")

DUMMY_KEY_LENGTH = 20
"""A client credential shorter than this counts as a dummy (real keys are far longer)."""

# Handshake headers that belong to one hop (the client's to the proxy), never forwarded: the
# upstream connection makes its own.
_HOP_HEADERS = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "content-length",
        "proxy-authorization",
        "proxy-connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "sec-websocket-protocol",
    }
)
# Close codes that cannot be sent in a close frame (RFC 6455 7.4.1).
_NOT_SENDABLE = frozenset({1005, 1006, 1015})


def _is_dummy(value: str) -> bool:
    _, _, token = value.strip().partition(" ")
    token = (token or value).strip()
    return len(token) < DUMMY_KEY_LENGTH


class RecordingProxy:
    """Forwards Realtime connections to ``upstream`` and records them to ``out``.

    Args:
        upstream: The full Realtime endpoint (``wss://api.openai.com/v1/realtime``, a served
            fake's URL, an Azure ``.../openai/v1/realtime?model=...``).
        out: The recording to write (truncated).
        upstream_key: Replaces a dummy client credential (see the module's documentation).
        transport: How to reach the upstream (``HttpxWsTransport()`` by default; pass one
            with your own ``httpx.AsyncClient`` for custom TLS trust).
        connect_timeout: Seconds for the upstream handshake.

    Attributes:
        recorder: The :class:`realtime.Recorder` writing ``out``.
        connections: Connections served so far.
    """

    def __init__(
        self,
        upstream: str,
        out: str | Path,
        *,
        upstream_key: str | None = None,
        transport: Transport | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
            raise ValueError(f"the upstream must be a ws:// or wss:// URL, not {upstream!r}")
        self.upstream = upstream
        self.upstream_key = upstream_key or None
        self.recorder = Recorder(out)
        self.connections = 0
        self._transport = transport
        self._connect_timeout = connect_timeout

    def request_for(self, socket: ServerSocket) -> ConnectRequest:
        """The upstream handshake for a client's: the query merged in, the headers filtered
        (hop-by-hop ones dropped) and a dummy credential replaced."""
        parts = urlsplit(self.upstream)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(socket.query)
        url = urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))
        headers: dict[str, tuple[str, str]] = {}
        for name, value in socket.headers:
            key = name.lower()
            if key in _HOP_HEADERS:
                continue
            if key in headers:
                value = f"{headers[key][1]}, {value}"
            headers[key] = (name, value)
        credential = headers.get("authorization") or headers.get("api-key")
        if self.upstream_key is not None and (credential is None or _is_dummy(credential[1])):
            if "api-key" in headers:
                headers["api-key"] = (headers["api-key"][0], self.upstream_key)
            else:
                headers["authorization"] = ("Authorization", f"Bearer {self.upstream_key}")
        return ConnectRequest(
            url=url,
            headers=tuple(headers.values()),
            connect_timeout=self._connect_timeout,
            max_message_size=None,
        )

    async def handle(self, socket: ServerSocket) -> None:
        """Serve one client connection: connect upstream, then forward until either side ends."""
        self.connections += 1
        request = self.request_for(socket)
        self.recorder.meta(request)
        transport = self._transport
        owned = transport is None
        if transport is None:
            from realtime.transports import HttpxWsTransport

            transport = HttpxWsTransport()
        try:
            await self._forward(socket, transport, request)
        finally:
            if owned:
                await transport.aclose()

    async def _forward(
        self, socket: ServerSocket, transport: Transport, request: ConnectRequest
    ) -> None:
        opened = False
        try:
            async with transport.connect(request) as channel:
                opened = True
                await socket.accept()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._downstream, channel, socket, tg.cancel_scope)
                    await self._upstream(socket, channel, tg.cancel_scope)
        except ConnError as exc:
            if not opened:
                await _refuse(socket, exc)
                return
            # The pumps handle a failure under an open connection; this one came with
            # leaving it, when nothing is left to tell the client.
            logger.info("upstream connection ended with an error: %s", exc)

    async def _downstream(
        self, channel: Channel, socket: ServerSocket, scope: anyio.CancelScope
    ) -> None:
        """Upstream to client, until the upstream ends; then the whole connection ends."""
        try:
            while True:
                for item in await channel.receive_many():
                    if isinstance(item, Close):
                        await _close(socket, item)
                        return
                    await self._relay(item, socket, "server")
        finally:
            scope.cancel()

    async def _upstream(
        self, socket: ServerSocket, channel: Channel, scope: anyio.CancelScope
    ) -> None:
        """Client to upstream, until the client ends; then wait (bounded) for the upstream's
        answer to the close, which ends the connection."""
        try:
            while True:
                message = await socket.receive()
                if isinstance(message, Close):
                    if message.code in _NOT_SENDABLE:
                        channel.abort()
                        scope.cancel()  # lost: leaving the upstream context drops it too
                        return
                    await channel.send_close(message.code, message.reason)
                    break
                await self._relay(message, channel, "client")
        except ConnError as exc:
            # Failed under an open connection: the client learns it as a server error.
            logger.info("upstream connection failed: %s", exc)
            await socket.close(1011, "upstream connection failed")
            scope.cancel()
            return
        with anyio.move_on_after(self._connect_timeout):
            await anyio.sleep_forever()  # the downstream pump cancels this at the echo
        scope.cancel()

    async def _relay(self, message: str | bytes, to: ServerSocket | Channel, sender: str) -> None:
        if isinstance(message, str):
            self._record(message, sender)
            await to.send_text(message)
        else:
            await to.send_bytes(message)

    def _record(self, text: str, direction: str) -> None:
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            return  # not an event: forwarded, but nothing replay could use
        if isinstance(event, dict):
            if direction == "server":
                self.recorder.server(event)
            else:
                self.recorder.client(event)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl: SSLContext | None = None
    ) -> AbstractAsyncContextManager[str]:
        """Serve the proxy; the context yields its ``ws://`` (``wss://`` with ``ssl``) URL,
        ``.../v1/realtime``. Leaving it closes the recording.

        Raises:
            OSError: The address cannot be listened on.
        """
        return self._serve(host, port, ssl)

    @asynccontextmanager
    async def _serve(self, host: str, port: int, ssl: SSLContext | None) -> AsyncIterator[str]:
        try:
            async with serve(self.handle, host=host, port=port, ssl=ssl) as url:
                yield url
        finally:
            self.recorder.close()


async def _close(socket: ServerSocket, close: Close) -> None:
    if close.code in _NOT_SENDABLE:
        if close.code == 1005:
            await socket.close(1000, "")
        else:
            await socket.abort()
        return
    await socket.close(close.code, close.reason)


async def _refuse(socket: ServerSocket, exc: ConnError) -> None:
    status = exc.status_code
    body: Any = exc.body
    if status is None:
        status = 502
        body = {
            "error": {
                "message": f"realtime fake record: cannot reach the upstream: {exc}",
                "type": "proxy_error",
                "code": None,
                "param": None,
            }
        }
    if isinstance(body, (dict, list)):
        await socket.reject(status, json.dumps(body).encode())
    else:
        await socket.reject(status, str(body or "").encode(), "text/plain; charset=utf-8")
