"""pytest fixtures for the fake Realtime server.

Registered by the ``realtime_fake`` entry point, the module :mod:`pytest_realtime_fake`, which
imports this module only when a test first uses one of its fixtures (and declares the markers).

Fixtures:

- ``fake_realtime``: a fresh :class:`fakes.FakeRealtimeServer`, live on injection (connect to it
  in memory with ``realtime.transports.MemoryTransport(fake_realtime)``).
- ``fake_realtime_url``: that same fake served on 127.0.0.1, as its
  ``ws://127.0.0.1:<port>/v1/realtime`` URL. A sync fixture: the fake runs in a background
  thread with its own event loop, so any test can use it (sync, pytest-asyncio in strict or
  auto mode, anyio on any backend). The fake's scripting and inspection work from the test as
  usual; its async methods (``close_connections``, ``drop_connections``, ``send_raw``,
  ``send_event``, ``wait_received``) can be awaited from the test's own loop, asyncio or trio.

Strict by default: at teardown, a server-side failure (an exception in an ``on`` handler, a
script assertion) is re-raised, and if the test passed, a scripted step it never used fails it
with a list of what was used and what was not. Relax the latter with
``@pytest.mark.fake_realtime(strict=False)``; other keyword arguments of the marker go to the
``FakeRealtimeServer`` constructor (``api_key=...``, ``latency=...``).

Cassettes: ``@pytest.mark.realtime_cassette(path)`` makes ``fake_realtime_url`` replay a
recorded session, or record it with ``--realtime-record`` (see ``fakes._cassette``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_realtime_fake import CALL_PASSED

from . import _cassette
from ._server import FakeRealtimeServer
from ._threaded import serve_in_thread

__all__ = ["fake_realtime", "fake_realtime_url"]


@pytest.fixture
def fake_realtime(request: pytest.FixtureRequest) -> Iterator[FakeRealtimeServer]:
    """A fresh fake Realtime server, checked at teardown (see the module's documentation)."""
    marker = request.node.get_closest_marker("fake_realtime")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    strict = bool(options.pop("strict", True))
    fake = FakeRealtimeServer(**options)
    yield fake
    fake.check(strict=strict and request.node.stash.get(CALL_PASSED, False))


@pytest.fixture
def fake_realtime_url(
    request: pytest.FixtureRequest, fake_realtime: FakeRealtimeServer
) -> Iterator[str]:
    """The ``fake_realtime`` server, served on 127.0.0.1: ``ws://127.0.0.1:<port>/v1/realtime``.

    Served from a background thread with its own event loop, so it works in any test: sync,
    pytest-asyncio, anyio on asyncio or trio. For the official SDK:
    ``AsyncOpenAI(websocket_base_url=url.removesuffix("/realtime"))``. With
    ``@pytest.mark.realtime_cassette(path)``, the cassette's replay (or recording proxy).
    """
    with _cassette.cassette_url(
        request, lambda: request.node.stash.get(CALL_PASSED, False)
    ) as cassette:
        if cassette is not None:
            yield cassette
            return
    with serve_in_thread(fake_realtime) as url:
        yield url
