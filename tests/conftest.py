"""Shared fixtures: every async test runs on asyncio and trio, and every test that takes
``wire`` runs over every transport against the fake server."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

import realtime
from fakes import FakeRealtimeServer
from realtime.transports import MemoryTransport, Transport

# Every transport the conformance tests run over.
TRANSPORTS = ["memory", "httpx_ws"]


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
    """A fake server and how to reach it over one transport."""

    kind: str
    fake: FakeRealtimeServer
    transport: Transport
    url: str

    def config(self, **overrides: Any) -> realtime.ModelConfig:
        options: dict[str, Any] = {"api_key": "sk-test", "url": self.url}
        options.update(overrides)
        return realtime.ModelConfig(**options)

    def connect(self, config: realtime.ModelConfig | None = None, **kwargs: Any) -> Any:
        return realtime.connect(
            config if config is not None else self.config(), transport=self.transport, **kwargs
        )


@pytest.fixture(params=TRANSPORTS)
async def wire(request: pytest.FixtureRequest) -> AsyncIterator[Wire]:
    fake = FakeRealtimeServer()
    kind = str(request.param)
    if kind == "memory":
        yield Wire(kind, fake, MemoryTransport(fake), "wss://api.openai.com/v1/realtime")
    elif kind == "httpx_ws":
        from realtime.transports import HttpxWsTransport

        transport = HttpxWsTransport()
        try:
            async with fake.serve() as url:
                yield Wire(kind, fake, transport, url)
        finally:
            await transport.aclose()
    else:  # pragma: no cover
        raise AssertionError(f"unknown transport {kind}")
