"""A WebSocket peer written by hand on a raw TCP listener: it does only what a test says.

Not built on our fake (which agrees with our client by construction), nor on any WebSocket
library: it reads the upgrade request as bytes and answers (or not) with bytes.

- ``silent``: accepts TCP, reads the upgrade request, never answers it.
- ``deaf``: completes the upgrade, then reads nothing: our sends fill the socket buffers and
  block, no pong and no close frame ever comes back.

Either way, once told to :meth:`RawPeer.drain`, it reads and discards until end of file, and
sets ``eof``: the proof that the client closed its socket.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio
from anyio.abc import SocketStream

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawPeer:
    def __init__(self, mode: Literal["silent", "deaf"], port: int) -> None:
        self.mode = mode
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        self.request_seen = anyio.Event()
        self.upgraded = anyio.Event()
        self.eof = anyio.Event()
        self._drain = anyio.Event()

    def drain(self) -> None:
        """Start reading (and discarding) everything, until the client closes."""
        self._drain.set()

    async def serve(self, stream: SocketStream) -> None:
        async with stream:
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    request += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                self.eof.set()
                return
            self.request_seen.set()
            if self.mode == "deaf":
                await stream.send(_switching_protocols(request))
                self.upgraded.set()
            await self._drain.wait()
            try:
                while True:
                    await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
            self.eof.set()


def _switching_protocols(request: bytes) -> bytes:
    key = b""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


@asynccontextmanager
async def raw_peer(mode: Literal["silent", "deaf"]) -> AsyncIterator[RawPeer]:
    """Serve one :class:`RawPeer` on 127.0.0.1 for the duration of the block."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    peer = RawPeer(mode, port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, peer.serve)
        try:
            yield peer
        finally:
            tg.cancel_scope.cancel()
