"""The pytest plugin: fixtures, strict teardown, the marker (run in an inner pytest)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = """
import anyio
import pytest

from realtime import ConnectRequest
from realtime.transports import MemoryTransport


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_unused_step_fails_at_teardown(fake_realtime):
    fake_realtime.reply_text("never asked for")


@pytest.mark.fake_realtime(strict=False)
def test_marker_relaxes(fake_realtime):
    fake_realtime.reply_text("never asked for")


@pytest.mark.fake_realtime(api_key="sk-x", latency=0.5)
def test_marker_options_reach_the_constructor(fake_realtime):
    assert (fake_realtime.api_key, fake_realtime.latency) == ("sk-x", 0.5)


def test_a_failed_test_is_not_blamed_twice(fake_realtime):
    fake_realtime.reply_text("never asked for")
    assert False, "the test's own failure"


@pytest.mark.anyio
async def test_handler_failure_surfaces_at_teardown(fake_realtime):
    fake_realtime.on("response.create", lambda event, conn: 1 / 0)
    request = ConnectRequest(
        url="wss://x/v1/realtime?model=m", headers=(("Authorization", "Bearer k"),)
    )
    with anyio.fail_after(5):
        async with MemoryTransport(fake_realtime).connect(request) as channel:
            await channel.receive()
            await channel.send_text('{"type": "response.create"}')
            while not hasattr(await channel.receive(), "code"):
                pass


def test_fresh_fake_each_test(fake_realtime):
    assert fake_realtime.connections == [] and fake_realtime.script.unconsumed() == []
"""


def test_plugin_fixtures_and_strictness(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "anyio", "-q")
    result.assert_outcomes(passed=5, failed=1, errors=2)
    output = result.stdout.str()
    assert "ERROR at teardown of test_unused_step_fails_at_teardown" in output
    assert "- reply_text('never asked for')  (NEVER USED)" in output
    assert "ERROR at teardown of test_handler_failure_surfaces_at_teardown" in output
    assert "ZeroDivisionError" in output
    assert "the test's own failure" in output
    assert "ERROR at teardown of test_a_failed_test_is_not_blamed_twice" not in output


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.fake_realtime(strict=True, **options)*"])
