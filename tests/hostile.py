"""Hostile peers built with stacks the project did not write, for tests of the network edge.

- :func:`raw_server`: an anyio TCP listener on 127.0.0.1 whose script reads the upgrade request
  and writes HTTP and WebSocket bytes by hand, so it can say anything a real socket can (a
  frame header announcing 256 MiB, invalid UTF-8, a 401 echoing the key, a redirect), on
  asyncio and trio alike.
- :func:`raw_peer`: a ready-made script on :func:`raw_server`: a peer that never answers the
  upgrade (``silent``) or completes it and then reads nothing (``deaf``), until told to drain.
- :func:`websockets_server`: the ``websockets`` library's asyncio server (asyncio only).
- :func:`network_transport`: the transports under test, by name.

Nothing here uses ``fakes/`` or ``realtime``'s own WebSocket code.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import anyio.abc

from realtime.transports import Transport

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "PING",
    "PONG",
    "TEXT",
    "Frame",
    "IdlePeer",
    "RawPeer",
    "RawServer",
    "close_payload",
    "frame",
    "network_transport",
    "raw_peer",
    "raw_server",
    "websockets_server",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 64 * 1024


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    length: int | None = None,
    mask: bytes | None = None,
) -> bytes:
    """One WebSocket frame, as bytes. ``length`` is what the header announces (the payload's
    length unless given: a peer may lie); ``mask`` masks the payload (clients must)."""
    announced = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if announced < 126:
        head += bytes([mask_bit | announced])
    elif announced < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", announced)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", announced)
    if mask is not None:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame."""
    return struct.pack("!H", code) + reason.encode()


@dataclass(frozen=True)
class Frame:
    """A frame a client sent (unmasked)."""

    opcode: int
    payload: bytes
    fin: bool

    @property
    def close(self) -> tuple[int, str]:
        """Code and reason of a close frame (1005 when it has none)."""
        if len(self.payload) < 2:
            return 1005, ""
        return struct.unpack("!H", self.payload[:2])[0], self.payload[2:].decode()


class RawPeer:
    """One accepted TCP connection with its upgrade request read, from the server's side.

    Attributes:
        request_line: ``GET /path?query HTTP/1.1``.
        headers: The request's headers, in order, as sent.
        notes: Whatever the script wants the test to see (set with :meth:`note`).
    """

    def __init__(self, stream: anyio.abc.SocketStream, head: bytes, rest: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.request_line = lines[0]
        self.headers = [
            (name.strip(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        ]
        self.stream = stream
        self._buffer = bytearray(rest)
        self.notes: dict[str, Any] = {}
        self._noted = anyio.Event()

    def note(self, key: str, value: Any) -> None:
        """Record ``value`` for the test, waking :meth:`noted`."""
        self.notes[key] = value
        noted, self._noted = self._noted, anyio.Event()
        noted.set()

    async def noted(self, key: str) -> Any:
        """Wait until the script noted ``key``; its value."""
        while key not in self.notes:
            await self._noted.wait()
        return self.notes[key]

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (case-insensitive), if any."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        await self.stream.send(data)

    async def respond(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Answer the upgrade request with a plain HTTP response, and close."""
        lines = [f"HTTP/1.1 {status} Whatever"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        await self.send_raw("\r\n".join(lines).encode("latin-1") + body)
        await self.stream.aclose()

    async def accept(self) -> None:
        """Complete the upgrade (101 with the right ``Sec-WebSocket-Accept``)."""
        key = (self.header("sec-websocket-key") or "").encode()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
        await self.send_raw(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )

    async def send_frame(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        """Write one frame (see :func:`frame` for the options)."""
        await self.send_raw(frame(opcode, payload, **options))

    async def _read_exactly(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return None
            self._buffer += data
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    async def read_frame(self) -> Frame | None:
        """The client's next frame, or ``None`` once the connection ended."""
        head = await self._read_exactly(2)
        if head is None:
            return None
        length = head[1] & 0x7F
        if length == 126:
            extended = await self._read_exactly(2)
            if extended is None:
                return None
            length = struct.unpack("!H", extended)[0]
        elif length == 127:
            extended = await self._read_exactly(8)
            if extended is None:
                return None
            length = struct.unpack("!Q", extended)[0]
        mask = await self._read_exactly(4) if head[1] & 0x80 else b"\0\0\0\0"
        payload = await self._read_exactly(length)
        if mask is None or payload is None:
            return None
        unmasked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return Frame(head[0] & 0x0F, unmasked, bool(head[0] & 0x80))

    async def read_close(self) -> tuple[int, str] | None:
        """Read until the client's close frame; its code and reason (``None`` if the
        connection ended without one). Other frames are skipped."""
        while True:
            received = await self.read_frame()
            if received is None:
                return None
            if received.opcode == CLOSE:
                return received.close


Script = Callable[[RawPeer], Awaitable[None]]


@dataclass
class RawServer:
    """A running :func:`raw_server`.

    Attributes:
        url: ``ws://127.0.0.1:<port>/v1/realtime``.
        peers: Every connection, in order, once its request was read.
        errors: Exceptions the script raised (re-raised when the server stops).
    """

    url: str
    peers: list[RawPeer] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _finished: int = 0
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def _note_finished(self) -> None:
        self._finished += 1
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def finished(self, count: int = 1) -> None:
        """Wait until the script ran to its end on ``count`` connections."""
        while self._finished < count:
            await self._changed.wait()


async def _read_head(stream: anyio.abc.SocketStream) -> tuple[bytes, bytes] | None:
    data = bytearray()
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            return None
        try:
            data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, rest


@asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[RawServer]:
    """Run ``script`` on each connection to a raw TCP listener on 127.0.0.1.

    The script gets a :class:`RawPeer` once the upgrade request is read; the connection is
    closed when it returns. Leaving the context stops everything; an exception a script
    raised then fails the test.
    """
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.listeners[0].extra(anyio.abc.SocketAttribute.local_port)
    server = RawServer(f"ws://127.0.0.1:{port}/v1/realtime")

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            read = await _read_head(stream)
            if read is None:
                return
            peer = RawPeer(stream, *read)
            server.peers.append(peer)
            try:
                await script(peer)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the client went away: what hostile tests provoke
            except Exception as exc:
                server.errors.append(exc)
            finally:
                server._note_finished()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
    if server.errors:
        raise server.errors[0]


class IdlePeer:
    """The script of :func:`raw_peer`: it does only what a test says.

    - ``silent``: reads the upgrade request, never answers it.
    - ``deaf``: completes the upgrade, then reads nothing: the client's sends fill the socket
      buffers and block, no pong and no close frame ever comes back.

    Either way, once told to :meth:`drain`, it reads and discards until end of file, and sets
    ``eof``: the proof that the client closed its socket.
    """

    def __init__(self, mode: Literal["silent", "deaf"]) -> None:
        self.mode = mode
        self.url = ""
        self.request_seen = anyio.Event()
        self.upgraded = anyio.Event()
        self.eof = anyio.Event()
        self._drain = anyio.Event()

    def drain(self) -> None:
        """Start reading (and discarding) everything, until the client closes."""
        self._drain.set()

    async def run(self, peer: RawPeer) -> None:
        self.request_seen.set()
        try:
            if self.mode == "deaf":
                await peer.accept()
                self.upgraded.set()
            await self._drain.wait()
            while True:
                await peer.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        self.eof.set()


@asynccontextmanager
async def raw_peer(mode: Literal["silent", "deaf"]) -> AsyncIterator[IdlePeer]:
    """Serve one :class:`IdlePeer` on 127.0.0.1 for the duration of the block."""
    idle = IdlePeer(mode)
    async with raw_server(idle.run) as server:
        idle.url = server.url
        yield idle


@asynccontextmanager
async def websockets_server(
    handler: Callable[[Any], Awaitable[None]], **options: Any
) -> AsyncIterator[str]:
    """Serve ``handler`` with the ``websockets`` library (asyncio only); yields the URL.

    ``options`` go to ``websockets.asyncio.server.serve`` (``process_request``, ``max_size``,
    ...).
    """
    from websockets.asyncio.server import serve

    async with serve(handler, "127.0.0.1", 0, **options) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime"


def network_transport(kind: str) -> Transport:
    """A network transport by name: ``httpx_ws`` or ``websockets``."""
    from realtime.transports import HttpxWsTransport, WebsocketsTransport

    if kind == "httpx_ws":
        return HttpxWsTransport()
    if kind == "websockets":
        return WebsocketsTransport()
    raise ValueError(kind)
