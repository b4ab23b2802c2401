"""Cassettes in pytest (``@pytest.mark.realtime_cassette``), run in an inner pytest."""

from __future__ import annotations

import json

import pytest

from fakes import FakeRealtimeServer
from fakes._threaded import serve_in_thread

pytest_plugins = ["pytester"]

KEY = "sk-proj-CASSETTEUPSTREAM0123456789"

# The head of the inner test files: a session that asks each question in turn.
TURN = """
import anyio
import pytest

import realtime


async def turn(url, *questions):
    config = realtime.ModelConfig(api_key="sk-test", url=url)
    async with realtime.Session(config, output_modalities=["text"]) as s:
        return [(await s.ask(q)).text for q in questions]

"""

INNER = (
    TURN
    + """
@pytest.mark.realtime_cassette("cassettes/hello.jsonl")
def test_hello(fake_realtime_url):
    assert anyio.run(turn, fake_realtime_url, "hello") == ["Recorded answer."]
"""
)

DIVERGING = (
    TURN
    + """
@pytest.mark.realtime_cassette("cassettes/hello.jsonl")
def test_hello_twice(fake_realtime_url):
    with pytest.raises(realtime.SessionError):
        anyio.run(turn, fake_realtime_url, "hello", "and again")
"""
)

MISSING = """
import pytest


@pytest.mark.realtime_cassette("cassettes/nowhere.jsonl")
def test_missing(fake_realtime_url):
    pass
"""

FAILING = """
import anyio
import pytest

from test_inner import turn


@pytest.mark.realtime_cassette("cassettes/failed.jsonl")
def test_fails_after_recording(fake_realtime_url):
    anyio.run(turn, fake_realtime_url, "hello")
    assert False, "the test's own failure"
"""


def test_record_with_the_flag_then_replay_without_upstream(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    pytester.makepyfile(test_inner=INNER)
    upstream = FakeRealtimeServer(api_key=KEY)
    upstream.reply_text("Recorded answer.")
    with serve_in_thread(upstream) as url:
        recording = pytester.runpytest_inprocess(
            "-p", "no:asyncio", "--realtime-record", f"--realtime-upstream={url}"
        )
    recording.assert_outcomes(passed=1)
    upstream.check()
    cassette = pytester.path / "cassettes" / "hello.jsonl"
    assert cassette.exists()
    assert not (pytester.path / "cassettes" / "hello.jsonl.partial").exists()
    text = cassette.read_text()
    assert KEY not in text and "sk-test" not in text
    server = [json.loads(line)["event"] for line in text.splitlines()[1:]]
    assert [e for e in server if e["type"] == "response.output_text.delta"]
    # The upstream saw the real key, not the test's dummy one.
    assert upstream.connections[0].headers["authorization"] == f"Bearer {KEY}"

    # No upstream any more, no flag: the cassette answers.
    monkeypatch.delenv("OPENAI_API_KEY")
    replayed = pytester.runpytest_inprocess("-p", "no:asyncio")
    replayed.assert_outcomes(passed=1)
    assert cassette.read_text() == text  # never rewritten

    # A client that does more than the cassette holds fails the test.
    pytester.makepyfile(test_inner=DIVERGING)
    diverged = pytester.runpytest_inprocess("-p", "no:asyncio")
    diverged.assert_outcomes(passed=1, errors=1)
    output = diverged.stdout.str()
    assert "ERROR at teardown of test_hello_twice" in output
    assert "ReplayDivergenceError" in output and "the recording ended" in output


def test_a_missing_cassette_says_how_to_record_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_missing=MISSING)
    result = pytester.runpytest_inprocess("-p", "no:asyncio")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "no Realtime cassette at" in output and "nowhere.jsonl" in output
    assert "pytest --realtime-record" in output and "OPENAI_API_KEY" in output


def test_a_failed_test_leaves_no_cassette(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    pytester.makepyfile(test_inner=INNER, test_failing=FAILING)
    upstream = FakeRealtimeServer()
    with serve_in_thread(upstream) as url:
        result = pytester.runpytest_inprocess(
            "-p",
            "no:asyncio",
            "--realtime-record",
            f"--realtime-upstream={url}",
            "test_failing.py",
        )
    result.assert_outcomes(failed=1)
    assert not (pytester.path / "cassettes" / "failed.jsonl").exists()
    assert not (pytester.path / "cassettes" / "failed.jsonl.partial").exists()


def test_the_marker_and_options_are_registered(pytester: pytest.Pytester) -> None:
    markers = pytester.runpytest_inprocess("-p", "no:asyncio", "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.realtime_cassette(path)*"])
    helps = pytester.runpytest_inprocess("-p", "no:asyncio", "--help")
    helps.stdout.fnmatch_lines(["*--realtime-record*", "*--realtime-upstream=URL*"])


def test_the_marker_needs_one_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.realtime_cassette()
def test_bad(fake_realtime_url):
    pass
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:asyncio")
    assert "takes one argument" in result.stdout.str() + result.stderr.str()
