"""pytest entry point of realtime-wire (``pytest11`` name ``realtime_fake``).

A thin, lazy shim over :mod:`fakes.pytest_plugin`, where the fixtures live. It has a module
name nothing else uses (the ``pytest_<name>`` convention) and imports nothing from ``fakes`` at
startup: many projects have a ``fakes`` package of their own (a common name for test doubles),
and loading ours when pytest starts would either break the whole run or shadow theirs. So the
fake is imported when a test first asks for one of its fixtures; if ``import fakes`` then finds
another package, only the tests that use these fixtures fail, with a message naming both.

Declarations that pytest needs before any test runs (markers, command-line options) live here,
since they must not import ``fakes``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__ = ["CALL_PASSED", "CASSETTE_MARKER", "fake_realtime", "fake_realtime_url"]

CASSETTE_MARKER = "realtime_cassette"
_DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"

# Whether the test's call phase passed; fakes.pytest_plugin's strict teardown reads it.
CALL_PASSED = pytest.StashKey[bool]()

# Our own ``fakes`` package is installed beside this module (in a wheel and in editable mode).
_OURS = Path(__file__).resolve().parent / "fakes"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime", "Realtime fake server and cassettes")
    group.addoption(
        "--realtime-record",
        action="store_true",
        default=False,
        help="record missing @pytest.mark.realtime_cassette files through a proxy to "
        "--realtime-upstream (key: $OPENAI_API_KEY)",
    )
    group.addoption(
        "--realtime-upstream",
        default=_DEFAULT_UPSTREAM,
        metavar="URL",
        help=f"the Realtime endpoint cassettes are recorded from (default {_DEFAULT_UPSTREAM})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fake_realtime(strict=True, **options): configure the fake_realtime fixture; "
        "strict=False allows scripted steps the test never used; other options go to "
        "FakeRealtimeServer(...).",
    )
    config.addinivalue_line(
        "markers",
        f"{CASSETTE_MARKER}(path): fake_realtime_url replays this recording (relative to the "
        "test file); a missing one is recorded with --realtime-record, else the test fails.",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[CALL_PASSED] = report.passed
    return report


def _conflict(found: str) -> str:
    return (
        f"realtime-wire's fake_realtime fixtures need realtime-wire's 'fakes' package, but "
        f"'import fakes' finds another package: {found}. Two packages named 'fakes' cannot "
        f"be imported in one process. Way out: rename your package (or make it a subpackage, "
        f"e.g. 'tests.fakes'), or run these tests in an environment where 'fakes' is "
        f"realtime-wire's (expected at {_OURS})."
    )


def _plugin() -> ModuleType:
    """Import :mod:`fakes.pytest_plugin`, failing the test if ``fakes`` is not ours."""
    try:
        fakes = importlib.import_module("fakes")
    except ImportError as exc:  # pragma: no cover - only when the install is broken
        pytest.fail(f"cannot import realtime-wire's 'fakes' package: {exc}", pytrace=False)
    origin = getattr(fakes, "__file__", None)
    if origin is None or Path(origin).resolve().parent != _OURS:
        paths = origin or ", ".join(getattr(fakes, "__path__", [])) or repr(fakes)
        pytest.fail(_conflict(paths), pytrace=False)
    return importlib.import_module("fakes.pytest_plugin")


def _unwrap(fixture: Any) -> Any:
    # pytest >= 8.4 wraps fixture functions in a FixtureFunctionDefinition; older ones mark the
    # function with __pytest_wrapped__.
    get = getattr(fixture, "_get_wrapped_function", None)
    if get is not None:
        return get()
    wrapped = getattr(fixture, "__pytest_wrapped__", None)
    return wrapped.obj if wrapped is not None else fixture


def _delegate(name: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Run ``fakes.pytest_plugin.<name>`` as the fixture, whatever arguments it takes."""
    func = _unwrap(getattr(_plugin(), name))
    kwargs = {
        param: request if param == "request" else request.getfixturevalue(param)
        for param in inspect.signature(func).parameters
    }
    result = func(**kwargs)
    if inspect.isgenerator(result):
        yield from result
    else:
        yield result


@pytest.fixture
def fake_realtime(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh :class:`fakes.FakeRealtimeServer`, checked at teardown.

    See :mod:`fakes.pytest_plugin` for the strict teardown and the ``fake_realtime`` marker.
    """
    yield from _delegate("fake_realtime", request)


@pytest.fixture
def fake_realtime_url(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The ``fake_realtime`` server, served on 127.0.0.1: ``ws://127.0.0.1:<port>/v1/realtime``.

    See :mod:`fakes.pytest_plugin`.
    """
    yield from _delegate("fake_realtime_url", request)
