"""The in-memory wire and the driver's handling of transport failures."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import pytest

import realtime
from realtime import ConnectionState, ConnError, ModelConfig, ReconnectPolicy
from realtime.events import Closed, Connected, FrameError, Reconnecting
from realtime.transports import Channel, Close, MemoryTransport, ServerSocket, Transport
from realtime.transports._memory import _End, _Ping, _Pong

from ._util import EventLog

S = ConnectionState
CONFIG = ModelConfig(api_key="sk-test", ping_interval=None)


_STREAMS: list[Any] = []


@pytest.fixture(autouse=True)
def _close_streams() -> Iterator[None]:
    # The bare wires below have no transport to close their streams: close them here, so
    # that an unclosed stream elsewhere still fails the suite (filterwarnings = error).
    yield
    while _STREAMS:
        _STREAMS.pop().close()


def ends(size: float = math.inf) -> tuple[_End, _End]:
    a_send, a_recv = anyio.create_memory_object_stream[Any](size)
    b_send, b_recv = anyio.create_memory_object_stream[Any](size)
    _STREAMS.extend((a_send, a_recv, b_send, b_recv))
    return _End(a_send, b_recv), _End(b_send, a_recv)


async def test_wire_answers_pings_and_echoes_close() -> None:
    client, server = ends()
    pong = await client.ping(b"1")
    await client.send("hello")
    assert await server.receive() == "hello"  # the ping was answered on the way
    assert [*client.receive_ready()] == []
    assert pong.is_set()
    await server.send_close(4000, "bye")
    assert await client.receive() == Close(4000, "bye")
    assert await server.receive() == Close(4000, "bye")  # the echo
    assert not await client.send("late")
    assert await client.receive() == Close(1006, "connection lost")


async def test_drain_handles_control_items_and_loss() -> None:
    client, server = ends()
    deaf = []
    await server._put(_Ping(b"p"))
    await server._put("a")
    await server._put(_Pong(b"unsolicited"))
    await server.send_close(1000, "")
    assert client.receive_ready() == ["a", Close(1000, "")]
    assert await server.receive() == Close(1000, "")  # the echo, after the pong
    # A deaf end leaves pings unanswered.
    quiet, other = ends()
    quiet.answer_pings = lambda: False
    await other._put(_Ping(b"x"))
    await other._put("b")
    assert quiet.receive_ready() == ["b"]
    assert other.receive_ready() == deaf
    other.abort()
    assert quiet.receive_ready() == [Close(1006, "connection lost")]


async def test_full_buffer_waits_like_a_socket() -> None:
    client, server = ends(size=1)
    await client.send("one")
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.send, "two")
        await anyio.wait_all_tasks_blocked()
        assert await server.receive() == "one"
    assert await server.receive() == "two"


async def test_channel_refuses_sends_after_the_end() -> None:
    async def closer(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.close(1000, "")
        await socket.receive()

    request = realtime.ConnectRequest(url="wss://x/v1/realtime", headers=())
    async with MemoryTransport(closer).connect(request) as channel:
        assert await channel.receive_many() == [Close(1000, "")]
        for send in (channel.send_text("x"), channel.send_bytes(b"x"), channel.send_pong(b"")):
            with pytest.raises(ConnError):
                await send
        pong = await channel.send_ping(b"")
        assert not pong.is_set()


@pytest.mark.parametrize(
    ("handler_kind", "status"), [("raises", 500), ("returns", 500), ("text", 502)]
)
async def test_handler_that_never_accepts(handler_kind: str, status: int) -> None:
    async def handler(socket: ServerSocket) -> None:
        if handler_kind == "raises":
            raise RuntimeError("boom")
        if handler_kind == "text":
            await socket.reject(502, b"bad gateway", content_type="text/plain")

    with anyio.fail_after(5), pytest.raises(ConnError) as info:
        await realtime.connect(CONFIG, transport=MemoryTransport(handler))
    assert info.value.status_code == status
    if handler_kind == "text":
        assert info.value.body == "bad gateway"


async def test_binary_frames_become_frame_errors() -> None:
    async def binary(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.send_bytes(b"\x01\x02")
        await socket.receive()

    log = EventLog()
    with anyio.fail_after(5):
        async with realtime.connect(CONFIG, transport=MemoryTransport(binary), session=log):
            error = await log.wait_for(FrameError)
    assert error.raw == b"\x01\x02"


async def test_credentials_in_the_url_never_reach_events() -> None:
    async def accept(socket: ServerSocket) -> None:
        await socket.accept()
        await socket.receive()

    log = EventLog()
    config = ModelConfig(api_key="k", url="wss://user:secret@h.example:8443/v1/realtime")
    async with realtime.connect(config, transport=MemoryTransport(accept), session=log):
        connected = await log.wait_for(Connected)
    assert connected.url == "wss://h.example:8443/v1/realtime?model=gpt-realtime"


class Flaky(Transport):
    """A memory transport whose channel fails on cue."""

    def __init__(
        self,
        inner: Transport,
        *,
        fail_send_after: int | None = None,
        fail_receive: bool = False,
        fail_connect: bool = False,
    ) -> None:
        self.inner = inner
        self.fail_send_after = fail_send_after
        self.fail_receive = fail_receive
        self.fail_connect = fail_connect
        self.receive_failed = anyio.Event()

    def connect(self, request: realtime.ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        return self._connect(request)

    @asynccontextmanager
    async def _connect(self, request: realtime.ConnectRequest) -> AsyncIterator[Channel]:
        if self.fail_connect:
            raise OSError("network is unreachable")
        async with self.inner.connect(request) as channel:
            sent = 0
            original_send = channel.send_text
            original_receive = channel.receive_many

            async def send_text(text: str) -> None:
                nonlocal sent
                if self.fail_send_after is not None and sent >= self.fail_send_after:
                    raise ConnError("socket went away")
                sent += 1
                await original_send(text)

            async def receive_many() -> list[Any]:
                items = await original_receive()
                if self.fail_receive:
                    raise RuntimeError("transport bug")
                return items

            async def send_ping(data: bytes = b"") -> anyio.Event:
                raise ConnError("socket went away")

            channel.send_text = send_text  # type: ignore[method-assign]
            channel.receive_many = receive_many  # type: ignore[method-assign]
            channel.send_ping = send_ping  # type: ignore[method-assign]
            yield channel


async def test_send_failure_mid_list_hands_back_the_rest() -> None:
    fake = realtime_fake()
    transport = Flaky(MemoryTransport(fake), fail_send_after=1)
    # The transport refuses writes while its reader goes on: the core waits close_timeout for
    # the reader to see the end, then ends the link itself.
    config = ModelConfig(api_key="k", close_timeout=0.2)
    messages = [
        {"type": "input_audio_buffer.clear"},
        {"type": "input_audio_buffer.commit"},
        {"type": "response.create"},
    ]
    with anyio.fail_after(5):
        async with realtime.connect(config, transport=transport) as conn:
            with pytest.raises(ConnError) as info:
                await conn.send_message(messages)
            assert conn.state is S.CLOSED
    assert info.value.unsent == tuple(messages[1:])
    assert info.value.close_code == 1006


async def test_receive_failure_is_a_1006_close_not_a_crash() -> None:
    fake = realtime_fake()
    log = EventLog()
    transport = Flaky(MemoryTransport(fake), fail_receive=True)
    config = ModelConfig(api_key="k", ping_interval=0.001)  # its ping fails: keepalive stops
    with anyio.fail_after(5):
        async with realtime.connect(config, transport=transport, session=log) as conn:
            closed = await log.wait_for(Closed)
            assert conn.state is S.CLOSED
    assert closed.code == 1006 and "RuntimeError" in closed.reason


async def test_connect_failure_of_another_type_is_a_conn_error() -> None:
    transport = Flaky(MemoryTransport(realtime_fake()), fail_connect=True)
    with anyio.fail_after(5), pytest.raises(ConnError, match="unreachable") as info:
        await realtime.connect(CONFIG, transport=transport)
    assert isinstance(info.value.__cause__, OSError)


async def test_no_retry_after_a_fatal_error_event() -> None:
    fake = realtime_fake()
    log = EventLog()
    policy = ReconnectPolicy(initial_delay=0, jitter=False)
    with anyio.fail_after(5):
        async with realtime.connect(
            CONFIG, transport=MemoryTransport(fake), session=log, reconnect=policy
        ):
            await log.wait_for("session.created")
            await fake.send_raw(
                '{"type":"error","event_id":"e","error":{"type":'
                '"insufficient_quota","code":"insufficient_quota",'
                '"message":"quota"}}'
            )
            await log.wait_for("error")
            await fake.close_connections(1011, "")
            await log.wait_for(Closed)
    assert Reconnecting not in {type(e) for e in log.events}


def realtime_fake() -> Any:
    from fakes import FakeRealtimeServer

    return FakeRealtimeServer()


async def test_last_batch_of_a_dead_connection_does_not_refill_the_retry_budget() -> None:
    # Regression: the dying connection's final batch (here session.created and the close,
    # read in one burst) was inspected after the retry was counted, resetting the budget, so
    # max_attempts=1 made two attempts.
    connections = 0

    async def handler(socket: ServerSocket) -> None:
        nonlocal connections
        connections += 1
        if connections > 1:
            await socket.reject(503, b'{"error": {"message": "overloaded"}}')
            return
        await socket.accept()
        # No await yields between these on the memory wire: the client reads them together.
        await socket.send_text('{"type":"session.created","event_id":"e1","session":{}}')
        await socket.close(1011, "")
        await socket.receive()

    log = EventLog()
    policy = ReconnectPolicy(max_attempts=1, initial_delay=0, jitter=False)
    with anyio.fail_after(5):
        async with realtime.connect(
            CONFIG, transport=MemoryTransport(handler), session=log, reconnect=policy
        ):
            await log.wait_for(Closed)
    assert [e.attempt for e in log.events if isinstance(e, Reconnecting)] == [1]
    assert connections == 2


async def test_backpressure_holds_the_reader_and_drops_nothing() -> None:
    # A listener that blocks makes the reader wait once 64 batches are in flight; when it
    # lets go, every event arrives, in order.
    count = 300

    async def trickle(socket: ServerSocket) -> None:
        await socket.accept()
        for n in range(count):
            await socket.send_text(f'{{"type":"test.tick","n":{n}}}')
            await anyio.lowlevel.checkpoint()  # one frame per client read: one batch each
        await socket.receive()

    gate = anyio.Event()
    seen: list[int] = []
    all_seen = anyio.Event()

    async def slow(event: Any) -> None:
        if event.type == "test.tick":
            await gate.wait()
            seen.append(event.raw["n"])
            if len(seen) == count:
                all_seen.set()

    with anyio.fail_after(10):
        async with realtime.connect(CONFIG, transport=MemoryTransport(trickle), session=slow):
            await anyio.wait_all_tasks_blocked()  # the reader is now held by backpressure
            gate.set()
            await all_seen.wait()
    assert seen == list(range(count))


async def test_a_failing_key_on_retry_abandons_with_a_final_close() -> None:
    calls = 0

    def key() -> str:
        nonlocal calls
        calls += 1
        if calls > 1:
            return 42  # type: ignore[return-value]
        return "sk-test"

    fake = realtime_fake()
    log = EventLog()
    config = ModelConfig(api_key=key, ping_interval=None)
    policy = ReconnectPolicy(initial_delay=0, jitter=False)
    with anyio.fail_after(5):
        async with realtime.connect(
            config, transport=MemoryTransport(fake), session=log, reconnect=policy
        ) as conn:
            await log.wait_for("session.created")
            await fake.close_connections(1011, "")
            closed = await log.wait_for(Closed)
            assert conn.state is S.CLOSED
    assert closed.reason == "reconnect abandoned"
    assert calls == 2
