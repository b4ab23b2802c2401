"""Cassettes for the pytest plugin: record a real session once, replay it in every run after.

The pytest-recording / vcrpy convention, for Realtime WebSocket sessions::

    @pytest.mark.realtime_cassette("cassettes/weather.jsonl")
    def test_weather(fake_realtime_url): ...

- The cassette exists: ``fake_realtime_url`` serves its replay (``FakeRealtimeServer.replay``);
  a client that diverges from it fails the test at teardown (``ReplayDivergenceError``).
- It does not, and pytest runs with ``--realtime-record``: ``fake_realtime_url`` is a recording
  proxy (:class:`fakes._proxy.RecordingProxy`) to ``--realtime-upstream`` (the real service by
  default; the key from ``OPENAI_API_KEY`` replaces the test's dummy one); the cassette is
  written at teardown, if the test passed.
- It does not, without the flag: the test fails, saying how to record it.

The path is relative to the test file's directory. Existing cassettes are never overwritten:
delete one to record it again. Only the plugin's thin hooks live in ``pytest_plugin``; this
module imports the fake's machinery lazily, when a cassette is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Declared in the entry module: options and markers must exist before ``fakes`` is imported.
from pytest_realtime_fake import CASSETTE_MARKER as MARKER

__all__ = ["MARKER", "cassette_url"]


def _path(request: pytest.FixtureRequest, marker: pytest.Mark) -> Path:
    if len(marker.args) != 1 or not isinstance(marker.args[0], (str, os.PathLike)):
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes one argument, the cassette's path")
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = Path(request.node.path).parent / path
    return path


@contextmanager
def cassette_url(
    request: pytest.FixtureRequest, passed: Callable[[], bool]
) -> Iterator[str | None]:
    """Serve the test's cassette, if it has the marker: yields the URL, else ``None``.

    Args:
        request: The fixture request of ``fake_realtime_url``.
        passed: Tells, at teardown, whether the test's call passed (a recording is kept
            only then).

    Raises:
        pytest.fail.Exception: The cassette is missing and recording is off.
        ReplayDivergenceError: At exit, the test's client diverged from the cassette.
    """
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        yield None
        return
    path = _path(request, marker)
    config = request.config
    if path.exists():
        with _replay(path) as url:
            yield url
        return
    if not config.getoption("--realtime-record"):
        pytest.fail(
            f"no Realtime cassette at {path}: record it with `pytest --realtime-record` (it "
            "connects to --realtime-upstream, the real service by default, with the key in "
            "OPENAI_API_KEY), or give the path of an existing recording",
            pytrace=False,
        )
    upstream = str(config.getoption("--realtime-upstream"))
    with _record(path, upstream, passed) as url:
        yield url


@contextmanager
def _replay(path: Path) -> Iterator[str]:
    from ._server import FakeRealtimeServer

    replay = FakeRealtimeServer.replay(path)
    with _in_thread(replay) as url:
        yield url
    replay.check()


@contextmanager
def _record(path: Path, upstream: str, passed: Callable[[], bool]) -> Iterator[str]:
    from ._proxy import RecordingProxy

    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    proxy = RecordingProxy(upstream, partial, upstream_key=os.environ.get("OPENAI_API_KEY"))
    try:
        with _in_thread(proxy) as url:
            yield url
    finally:
        proxy.recorder.close()
    # Keep a cassette only of a test that passed: a failed run's would be replayed as truth.
    if passed() and proxy.connections:
        partial.replace(path)
    else:
        partial.unlink(missing_ok=True)


@contextmanager
def _in_thread(server: Any) -> Iterator[str]:
    """Serve ``server`` (``serve(host, port)`` as an async context) from a thread's loop, as
    ``fake_realtime_url`` serves the fake: the test may run on any loop, or none."""
    from anyio.from_thread import start_blocking_portal

    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(server.serve("127.0.0.1", 0)) as url,
    ):
        yield str(url)
