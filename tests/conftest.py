"""Shared fixtures: every async test runs on asyncio and trio, and every test that takes
``wire`` runs over every transport against the fake server."""

from __future__ import annotations

import inspect
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme

import realtime
from fakes import FakeRealtimeServer
from realtime.transports import MemoryTransport, ServerSocket, Transport

# Every transport the conformance tests run over.
TRANSPORTS = ["memory", "httpx_ws", "websockets"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    # Every coroutine test runs under anyio's plugin (and so on both backends). The mark must
    # be there when the function is collected: anyio's own hook (which runs after this one)
    # then requests ``anyio_backend`` like any fixture, so it combines with the test's other
    # parameters. Marking later (in pytest_collection_modifyitems) makes anyio rebuild the
    # items with only the backend parameter, which drops ``wire`` and ``parametrize``.
    if (
        isinstance(collector, (pytest.Module, pytest.Class))
        and collector.istestfunction(obj, name)
        and inspect.iscoroutinefunction(obj)
    ):
        pytest.mark.anyio(obj)


@dataclass
class Wire:
    """A fake server and how to reach it over one transport.

    Connections are served by ``handler`` (the fake's by default); a test may swap in its own
    with :meth:`set_handler` to play a misbehaving server.
    """

    kind: str
    fake: FakeRealtimeServer
    transport: Transport = field(init=False)
    url: str = "wss://api.openai.com/v1/realtime"
    handler: Callable[[ServerSocket], Awaitable[None]] = field(init=False)

    def __post_init__(self) -> None:
        self.handler = self.fake.handle

    async def serve_socket(self, socket: ServerSocket) -> None:
        await self.handler(socket)

    def set_handler(self, handler: Callable[[ServerSocket], Awaitable[None]]) -> None:
        self.handler = handler

    def config(self, **overrides: Any) -> realtime.ModelConfig:
        options: dict[str, Any] = {"api_key": "sk-test", "url": self.url}
        options.update(overrides)
        return realtime.ModelConfig(**options)

    def connect(self, config: realtime.ModelConfig | None = None, **kwargs: Any) -> Any:
        return realtime.connect(
            config if config is not None else self.config(), transport=self.transport, **kwargs
        )


@pytest.fixture(params=TRANSPORTS)
async def wire(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[Wire]:
    kind = str(request.param)
    if kind == "websockets" and anyio_backend != "asyncio":
        pytest.skip("websockets transport is asyncio-only")
    fake = FakeRealtimeServer()
    wire = Wire(kind, fake)
    if kind == "memory":
        wire.transport = MemoryTransport(wire.serve_socket)
        yield wire
        fake.check()  # server-side failures surface in the test
    elif kind == "httpx_ws":
        from fakes._serve import serve
        from realtime.transports import HttpxWsTransport

        transport = HttpxWsTransport()
        try:
            async with serve(wire.serve_socket) as url:
                wire.transport = transport
                wire.url = url
                yield wire
            fake.check()
        finally:
            await transport.aclose()
    elif kind == "websockets":
        from fakes._serve import serve
        from realtime.transports import WebsocketsTransport

        async with serve(wire.serve_socket) as url:
            wire.transport = WebsocketsTransport()
            wire.url = url
            yield wire
        fake.check()
    else:  # pragma: no cover
        raise AssertionError(f"unknown transport {kind}")


# -- proof of fidelity: every event any fake sent validates against the official types ---------

_COVERED: set[str] = set()


@pytest.fixture(autouse=True)
def _validate_fake_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every server event a FakeRealtimeServer sent during the test must validate strictly
    against ``openai.types.realtime.RealtimeServerEvent``; the test fails otherwise."""
    from tests.fidelity import validate_server_event

    fakes: list[FakeRealtimeServer] = []
    original = FakeRealtimeServer.__init__

    def tracking_init(self: FakeRealtimeServer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        fakes.append(self)

    monkeypatch.setattr(FakeRealtimeServer, "__init__", tracking_init)
    yield
    for fake in fakes:
        for event in fake.sent:
            validate_server_event(event)
            _COVERED.add(event["type"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _fault_matrix_summary(terminalreporter)
    if not _COVERED:
        return
    from tests.fidelity import ALL_SERVER_EVENT_TYPES

    missing = sorted(ALL_SERVER_EVENT_TYPES - _COVERED)
    terminalreporter.section("fake Realtime server: server event coverage")
    terminalreporter.write_line(
        f"{len(_COVERED & ALL_SERVER_EVENT_TYPES)} of {len(ALL_SERVER_EVENT_TYPES)} server "
        "event types emitted by the fake and validated against the official types."
    )
    if missing:
        terminalreporter.write_line("not covered: " + ", ".join(missing))


def _fault_matrix_summary(terminalreporter: Any) -> None:
    from tests._matrix import ROWS, render

    if not ROWS:
        return
    terminalreporter.section("fault matrix (see RELIABILITY.md)")
    for line in render():
        terminalreporter.write_line(line)


@pytest.fixture(params=["httpx_ws", "websockets"])
async def any_network_transport(
    request: pytest.FixtureRequest, anyio_backend: str
) -> AsyncIterator[Transport]:
    """Each network transport in turn (websockets on asyncio only), closed after the test."""
    from .hostile import network_transport

    kind = str(request.param)
    if kind == "websockets" and anyio_backend != "asyncio":
        pytest.skip("websockets transport is asyncio-only")
    t = network_transport(kind)
    try:
        yield t
    finally:
        await t.aclose()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A test certificate authority; ``ca.configure_trust(context)`` trusts it."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl(ca: trustme.CA) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1 and localhost, issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context
