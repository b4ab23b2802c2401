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
    result = pytester.runpytest_inprocess("-p", "anyio", "-p", "no:asyncio", "-q")
    result.assert_outcomes(passed=5, failed=1, errors=2)
    output = result.stdout.str()
    assert "ERROR at teardown of test_unused_step_fails_at_teardown" in output
    assert "- reply_text('never asked for')  (NEVER USED)" in output
    assert "ERROR at teardown of test_handler_failure_surfaces_at_teardown" in output
    assert "ZeroDivisionError" in output
    assert "the test's own failure" in output
    assert "ERROR at teardown of test_a_failed_test_is_not_blamed_twice" not in output


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("-p", "no:asyncio", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.fake_realtime(strict=True, **options)*"])


# -- fake_realtime_url in every test style -------------------------------------------------------

SYNC_STYLE = """
import json

from websockets.sync.client import connect


def test_a_sync_test_gets_a_served_fake(fake_realtime, fake_realtime_url):
    headers = {"Authorization": "Bearer sk-test"}
    with connect(fake_realtime_url + "?model=gpt-realtime", additional_headers=headers) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"
        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert json.loads(ws.recv())["type"] == "input_audio_buffer.cleared"
    assert fake_realtime.received == [{"type": "input_audio_buffer.clear"}]
"""

SDK_TEST = """
import anyio
import openai
import pytest
from websockets.exceptions import ConnectionClosed

{mark}
async def test_the_official_sdk(fake_realtime, fake_realtime_url):
    fake_realtime.reply_text("Hello!")
    client = openai.AsyncOpenAI(
        api_key="sk-test", websocket_base_url=fake_realtime_url.removesuffix("/realtime")
    )
    with anyio.fail_after(10):  # asyncio.timeout is Python 3.11+
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.session.update(
                session={{"type": "realtime", "output_modalities": ["text"]}}
            )
            await connection.response.create()
            async for event in connection:
                if event.type == "response.done":
                    break
            text = event.response.output[0].content[0].text
            # Inspection and faults from the test's own loop.
            updates = await fake_realtime.wait_received(event_type="session.update")
            await fake_realtime.close_connections(1001, "going away")
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await connection.recv()
    assert text == "Hello!"
    assert updates[0]["session"]["output_modalities"] == ["text"]
    assert closed.value.rcvd.code == 1001
"""

ANYIO_STYLE = """
import anyio
import pytest

import realtime


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_any_backend(fake_realtime, fake_realtime_url):
    fake_realtime.reply_text("Hi")
    config = realtime.ModelConfig(api_key="sk-test", url=fake_realtime_url)
    seen = []
    with anyio.fail_after(10):
        async with realtime.connect(config) as conn:
            await conn.send_message({"type": "response.create"})
            async for event in conn:
                seen.append(event.type)
                if event.type == "response.done":
                    break
            await fake_realtime.wait_received(event_type="response.create")
            await fake_realtime.send_raw('{"type": "bogus.event"}')
            await fake_realtime.drop_connections()
            async for event in conn:
                seen.append(event.type)
                if event.type == "realtime.closed":
                    break
    assert "response.done" in seen
    assert fake_realtime.connections[0].closed == (1006, "aborted by the fake")
"""


def test_fake_realtime_url_in_a_sync_test(pytester: pytest.Pytester) -> None:
    pytest.importorskip("websockets")
    pytester.makepyfile(test_sync=SYNC_STYLE)
    result = pytester.runpytest_inprocess("-p", "no:asyncio", "-q")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_fake_realtime_url_with_pytest_asyncio(pytester: pytest.Pytester, mode: str) -> None:
    pytest.importorskip("pytest_asyncio")
    pytest.importorskip("openai")
    mark = "@pytest.mark.asyncio" if mode == "strict" else ""
    pytester.makepyfile(test_sdk=SDK_TEST.format(mark=mark))
    result = pytester.runpytest_inprocess(
        "-p",
        "asyncio",
        "-o",
        f"asyncio_mode={mode}",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-q",
    )
    result.assert_outcomes(passed=1)


def test_fake_realtime_url_with_anyio_on_both_backends(pytester: pytest.Pytester) -> None:
    pytest.importorskip("trio")
    pytester.makepyfile(test_any=ANYIO_STYLE)
    result = pytester.runpytest_inprocess("-p", "anyio", "-p", "no:asyncio", "-q")
    result.assert_outcomes(passed=2)


def _doc_blocks() -> list[str]:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "testing-with-the-fake.md").read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.parametrize("style", ["anyio", "pytest-asyncio"])
def test_the_documented_sdk_examples_pass_as_written(pytester: pytest.Pytester, style: str) -> None:
    """Both versions of the docs' SDK test, with no help from a conftest: trio is installed
    here, so the anyio version passes only because it pins ``anyio_backend`` itself."""
    pytest.importorskip("openai")
    app, test_anyio, test_asyncio = _doc_blocks()[:3]
    assert "anyio_backend" in test_anyio and "pytest.mark.asyncio" in test_asyncio
    pytester.makepyfile(app=app, test_app=test_anyio if style == "anyio" else test_asyncio)
    pytester.syspathinsert()
    plugins = ["-p", "anyio", "-p", "no:asyncio"] if style == "anyio" else ["-p", "asyncio"]
    result = pytester.runpytest_inprocess(
        *plugins, "-o", "asyncio_default_fixture_loop_scope=function", "-q"
    )
    result.assert_outcomes(passed=1)


# -- living beside a project's own `fakes` package ------------------------------------------------

PROJECT_FAKES = """
class FakeMailer:
    sent = []
"""

PROJECT_TESTS = """
from fakes import FakeMailer


def test_the_project_uses_its_own_fakes():
    assert FakeMailer.sent == []
"""

PROJECT_TESTS_USING_OURS = """
def test_one_that_wants_our_fake(fake_realtime):
    pass


def test_one_that_wants_the_served_fake(fake_realtime_url):
    pass
"""


def test_a_project_with_its_own_fakes_package_runs(pytester: pytest.Pytester) -> None:
    # `python -m pytest` from the project's root: its `fakes` comes first on sys.path. A fresh
    # interpreter, so our `fakes` is not already imported as it is in this process.
    pytester.mkpydir("fakes").joinpath("__init__.py").write_text(PROJECT_FAKES)
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
    assert "Error while loading plugin" not in result.stderr.str()


def test_only_the_tests_using_our_fixtures_fail_on_a_fakes_conflict(
    pytester: pytest.Pytester,
) -> None:
    fakes_init = pytester.mkpydir("fakes").joinpath("__init__.py")
    fakes_init.write_text(PROJECT_FAKES)
    pytester.makepyfile(test_project=PROJECT_TESTS, test_ours=PROJECT_TESTS_USING_OURS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, errors=2)
    output = result.stdout.str()
    assert "'import fakes' finds another package" in output
    assert str(fakes_init) in output
    assert "rename your package" in output


def test_our_fixtures_work_in_a_fresh_interpreter(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ours="def test_it(fake_realtime):\n    assert fake_realtime.connections == []\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
