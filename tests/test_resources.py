"""Every memory object stream the memory transport and the loopback server open is closed
when its connection ends, however it ends (issue 10 §5: the suite runs with warnings as
errors, and an unclosed stream is a ResourceWarning when it is collected)."""

from __future__ import annotations

import types
from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from fakes import _serve as serve_module
from realtime.transports import HttpxWsTransport, MemoryTransport, ServerSocket
from realtime.transports import _memory as memory_module

from ._util import EventLog

TIMEOUT = 10.0


class _Tracked:
    """Stands in for ``anyio.create_memory_object_stream`` and keeps what it made."""

    def __init__(self) -> None:
        self.streams: list[Any] = []

    def __getitem__(self, _: object) -> _Tracked:
        return self

    def __call__(self, size: float = 0) -> Any:
        pair = anyio.create_memory_object_stream[Any](size)
        self.streams.extend(pair)
        return pair

    def unclosed(self) -> list[Any]:
        return [s for s in self.streams if not s._closed]


class _Anyio:
    """``anyio``, with the stream factory swapped."""

    def __init__(self, tracked: _Tracked) -> None:
        self.create_memory_object_stream = tracked

    def __getattr__(self, name: str) -> Any:
        return getattr(anyio, name)


def _track(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> _Tracked:
    tracked = _Tracked()
    monkeypatch.setattr(module, "anyio", _Anyio(tracked))
    return tracked


async def test_memory_transport_closes_its_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    tracked = _track(monkeypatch, memory_module)
    log = EventLog()
    fake = FakeRealtimeServer()
    config = realtime.ModelConfig(api_key="sk-test", ping_interval=None)
    with anyio.fail_after(TIMEOUT):
        async with realtime.connect(config, transport=MemoryTransport(fake), session=log):
            await log.wait_for("session.created")

    async def refuse(socket: ServerSocket) -> None:
        await socket.reject(403)

    async def never(socket: ServerSocket) -> None:
        await anyio.sleep_forever()

    with pytest.raises(realtime.ConnError):
        await realtime.connect(config, transport=MemoryTransport(refuse))
    slow = realtime.ModelConfig(api_key="sk-test", connect_timeout=0.01)
    with pytest.raises(realtime.ConnError, match="timed out"):
        await realtime.connect(slow, transport=MemoryTransport(never))
    assert len(tracked.streams) == 12
    assert tracked.unclosed() == []


async def test_loopback_server_closes_its_inbox(monkeypatch: pytest.MonkeyPatch) -> None:
    tracked = _track(monkeypatch, serve_module)
    fake = FakeRealtimeServer()
    log = EventLog()
    transport = HttpxWsTransport()
    try:
        with anyio.fail_after(TIMEOUT):
            async with fake.serve() as url:
                config = realtime.ModelConfig(api_key="sk-test", url=url, ping_interval=None)
                async with realtime.connect(config, transport=transport, session=log):
                    await log.wait_for("session.created")
    finally:
        await transport.aclose()
    assert len(tracked.streams) == 2
    assert tracked.unclosed() == []
