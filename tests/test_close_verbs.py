"""One verb for ending things: ``aclose()`` on a connection, a session and a transport, with
``close()`` kept as an alias for code written against the first names."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import anyio

import realtime
from realtime import ConnectionState, ConnectRequest
from realtime.transports import Channel, Transport

from .conftest import Wire
from .test_session import session


async def test_connection_aclose_and_its_close_alias(wire: Wire) -> None:
    with anyio.fail_after(5):
        first = await wire.connect()
        await first.aclose()
        assert first.state is ConnectionState.CLOSED
        second = await wire.connect()
        await second.close()
        assert second.state is ConnectionState.CLOSED
        await second.aclose()  # idempotent across both names
    assert [c.closed for c in wire.fake.connections] == [(1000, ""), (1000, "")]


async def test_session_aclose_and_its_close_alias(wire: Wire) -> None:
    with anyio.fail_after(5):
        for verb in ("aclose", "close"):
            async with session(wire) as s:
                connection = s.connection
                await getattr(s, verb)()
                assert connection.state is ConnectionState.CLOSED
                assert [e async for e in s] == [realtime.Closed(1000, "", True)]


class _Counting(Transport):
    def __init__(self) -> None:
        self.released = 0

    def connect(self, request: ConnectRequest) -> AbstractAsyncContextManager[Channel]:
        raise NotImplementedError

    async def aclose(self) -> None:
        self.released += 1


async def test_transport_close_is_an_alias_of_the_aclose_subclasses_override() -> None:
    transport = _Counting()
    await transport.aclose()
    await transport.close()
    assert transport.released == 2


def test_the_old_names_are_documented_as_aliases() -> None:
    for cls in (realtime.Connection, realtime.Session, Transport):
        assert "aclose" in (cls.close.__doc__ or ""), cls
