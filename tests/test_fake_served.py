"""The fake served on 127.0.0.1: the official ``openai`` SDK and openai-agents against it.

The official SDK and openai-agents run on asyncio only.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest

from fakes import FakeRealtimeServer
from tests._served import (
    agents_session,
    asyncio_only,
    call_output,
    fake_serve,
    raw_server_event,
    respond_to,
    sdk_connect,
    sdk_session,
    text_only,
    until,
    user_text,
)
from tests.fidelity import validate_server_event

pytest_plugins = ["pytester"]

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosedError  # noqa: E402

pytest.importorskip("fakes._serve", reason="the loopback listener (fakes/_serve.py) is not merged")
pytest.importorskip("openai")

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_the_served_url_on_both_backends(fake_realtime_url: str) -> None:
    assert fake_realtime_url.startswith("ws://127.0.0.1:")
    assert fake_realtime_url.endswith("/v1/realtime")


@asyncio_only
async def test_official_sdk_session_update(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    async with sdk_session(fake_realtime_url) as connection:
        created = await connection.recv()
        await connection.session.update(
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "output_modalities": ["text"],
            }
        )
        updated = await connection.recv()
    assert created.type == "session.created"
    assert updated.type == "session.updated"
    assert updated.session.instructions == "Be brief."
    first = fake_realtime.connections[0]
    assert first.query == {"model": "gpt-realtime"}
    assert first.headers["authorization"] == "Bearer sk-test"
    assert fake_realtime.received[0]["type"] == "session.update"


@asyncio_only
async def test_official_sdk_text_conversation(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    fake_realtime.reply_text("Paris is the capital of France.")
    async with sdk_session(fake_realtime_url) as connection:
        await text_only(connection)
        events = await respond_to(connection, user_text("Capital of France?"))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Paris is the capital of France."
    assert events[-1].response.status == "completed"
    assert events[-1].response.usage.total_tokens > 0


@asyncio_only
async def test_official_sdk_audio_reply(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    pcm = b"\x10\x00\xf0\xff" * 6000  # 500 ms
    fake_realtime.reply_audio(pcm, transcript="Bonjour!")
    async with sdk_session(fake_realtime_url) as connection:
        await connection.input_audio_buffer.append(audio=base64.b64encode(b"\0" * 9600).decode())
        await connection.input_audio_buffer.commit()
        await connection.response.create()
        events = await until(connection, "response.done")
    audio = b"".join(
        base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
    )
    assert audio == pcm
    transcript = next(e for e in events if e.type == "response.output_audio_transcript.done")
    assert transcript.transcript == "Bonjour!"
    assert "input_audio_buffer.committed" in [e.type for e in events]


@asyncio_only
async def test_official_sdk_function_call_round_trip(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    fake_realtime.reply_function_call("get_weather", {"city": "Paris"})
    fake_realtime.reply_text("It is sunny in Paris.")
    async with sdk_session(fake_realtime_url) as connection:
        await text_only(connection, TOOL)
        first = await respond_to(connection, user_text("Weather in Paris?"))
        call = next(e for e in first if e.type == "response.function_call_arguments.done")
        arguments = json.loads(call.arguments)
        output = json.dumps({"city": arguments["city"], "sky": "sunny"})
        second = await respond_to(connection, call_output(call.call_id, output))
    assert call.name == "get_weather"
    assert arguments == {"city": "Paris"}
    assert second[-1].response.output[0].content[0].text == "It is sunny in Paris."
    outputs = [e for e in fake_realtime.received if e["type"] == "conversation.item.create"]
    assert outputs[-1]["item"]["call_id"] == call.call_id


@asyncio_only
async def test_official_sdk_cancel(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    fake_realtime.reply_text("This answer is far too long to finish.", stall_after=2)
    async with sdk_session(fake_realtime_url) as connection:
        await connection.response.create(response={"output_modalities": ["text"]})
        await until(connection, "response.output_text.delta")
        await connection.response.cancel()
        events = await until(connection, "response.done")
    assert events[-1].response.status == "cancelled"
    assert events[-1].response.status_details.reason == "client_cancelled"


@asyncio_only
async def test_official_sdk_sees_errors_and_stays_connected(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    async with sdk_session(fake_realtime_url) as connection:
        await connection.response.cancel(event_id="cancel-1")
        error = (await until(connection, "error"))[-1]
        await connection.input_audio_buffer.commit(event_id="commit-1")
        empty = (await until(connection, "error"))[-1]
        await connection.session.update(session={"type": "realtime", "instructions": "still here"})
        updated = (await until(connection, "session.updated"))[-1]
    assert (error.error.code, error.error.event_id) == ("response_cancel_not_active", "cancel-1")
    assert (empty.error.code, empty.error.event_id) == (
        "input_audio_buffer_commit_empty",
        "commit-1",
    )
    assert updated.session.instructions == "still here"


@asyncio_only
@pytest.mark.fake_realtime(api_key="sk-right")
async def test_official_sdk_with_a_wrong_key(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    async with sdk_session(fake_realtime_url, api_key="sk-wrong") as connection:
        event = await connection.recv()
        # The SDK lets the websockets library's exception through.
        with pytest.raises(ConnectionClosedError) as info:
            await connection.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (
        3000,
        "invalid_request_error.invalid_api_key",
    )
    assert event.type == "error"
    assert event.error.code == "invalid_api_key"
    assert fake_realtime.connections[0].closed == (3000, "invalid_request_error.invalid_api_key")


@asyncio_only
async def test_openai_agents_runs_a_tool_and_answers(
    fake_realtime: FakeRealtimeServer, fake_realtime_url: str
) -> None:
    agents = pytest.importorskip("agents")
    from agents.realtime import RealtimeAgent

    calls: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Look up the weather for a city."""
        calls.append(city)
        return f"It is sunny in {city}."

    agent = RealtimeAgent(name="Weather", instructions="Use the tool.", tools=[get_weather])
    config = {"model_settings": {"output_modalities": ["text"]}}
    fake_realtime.reply_function_call("get_weather", {"city": "Paris"})
    answer = ""
    async with agents_session(fake_realtime_url, agent, config) as session:
        await session.send_message("What is the weather in Paris?")
        responses = 0
        async for event in session:
            if event.type == "error":
                raise AssertionError(f"agents reported an error: {event.error}")
            raw = raw_server_event(event)
            if raw.get("type") == "response.output_text.done":
                answer = raw["text"]
            if raw.get("type") == "response.done":
                responses += 1
                if responses == 2:
                    break
    assert calls == ["Paris"]
    assert answer == "The tool returned: It is sunny in Paris."
    update = next(e for e in fake_realtime.received if e["type"] == "session.update")
    assert [t["name"] for t in update["session"]["tools"]] == ["get_weather"]


def _doc_blocks() -> list[str]:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "testing-with-the-fake.md").read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_the_documented_example_passes(pytester: pytest.Pytester) -> None:
    app, test_app = _doc_blocks()[:2]
    pytester.makepyfile(app=app, test_app=test_app)
    # A project on the official SDK pins anyio tests to asyncio: anyio runs them on every
    # installed backend otherwise (the docs example pins it too; so does this conftest).
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    pytester.syspathinsert()
    result = pytester.runpytest_inprocess("-p", "anyio", "-p", "no:asyncio", "-q")
    result.assert_outcomes(passed=1)


# -- `realtime fake serve` in a subprocess, driven only over HTTP ----------------------------


@asyncio_only
async def test_official_sdk_against_a_served_subprocess_driven_over_http() -> None:
    with fake_serve("--api-key", "sk-ci") as served:
        steps = [
            {
                "outputs": [
                    {"text": "Let me check."},
                    {"function_call": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                ]
            }
        ]
        assert await served.control("POST", "script", steps) == (200, {"queued": 1})
        rule = {"when": {"tool_output_of": "get_weather"}, "reply": {"text": "Sunny."}, "times": 1}
        assert (await served.control("POST", "rules", rule))[0] == 200
        with anyio.fail_after(20):
            async with sdk_connect(served.url, api_key="sk-ci") as connection:
                await text_only(connection, TOOL)
                first = await respond_to(connection, user_text("Weather in Paris?"))
                call = first[-1].response.output[1]
                second = await respond_to(connection, call_output(call.call_id, "sun"))
            status, journal = await served.control("GET", "journal")
            assert status == 200
            check = await served.control("GET", "check")
            async with sdk_connect(served.url, api_key="sk-wrong") as refused:
                wrong_key = await refused.recv()
            assert await served.control("POST", "reset") == (200, {"reset": True})
            after = await served.control("GET", "journal")
    assert [o.type for o in first[-1].response.output] == ["message", "function_call"]
    assert first[-1].response.output[0].content[0].text == "Let me check."
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert second[-1].response.output[0].content[0].text == "Sunny."
    (conn,) = journal["connections"]
    assert [e["type"] for e in conn["received"]] == [
        "session.update",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
    ]
    assert conn["headers"]["authorization"] == "Bearer <redacted>"
    assert conn["closed"] == [1000, ""]
    # The subprocess's events, strictly validated like those of in-process fakes.
    for event in conn["sent"]:
        validate_server_event(event)
    assert "response.function_call_arguments.done" in [e["type"] for e in conn["sent"]]
    assert check == (200, {"ok": True})
    assert wrong_key.type == "error" and wrong_key.error.code == "invalid_api_key"
    assert after == (200, {"connections": [], "http": []})


def test_the_documented_node_suite_passes_against_the_served_fake(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the curl and SDK tests cover the same paths)")
    text = (Path(__file__).parent.parent / "docs" / "testing-with-the-fake.md").read_text()
    suite = text.split("```js\n", 1)[1].split("```", 1)[0]
    (tmp_path / "weather.test.mjs").write_text(suite)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    flags = ["--experimental-websocket"] if int(version.stdout[1:].split(".")[0]) < 22 else []
    with fake_serve() as served:
        result = subprocess.run(
            [node, *flags, "--test", "weather.test.mjs"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=dict(os.environ, FAKE_URL=served.base),
            timeout=120,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout and "# fail 0" in result.stdout


def test_fake_serve_refuses_a_non_loopback_host_without_a_key() -> None:
    from realtime.cli._cli import main

    err = io.StringIO()
    assert main(["fake", "serve", "--host", "0.0.0.0", "--port", "0"], stderr=err) == 2
    assert "beyond loopback, without an API key" in err.getvalue()
    assert "--api-key" in err.getvalue()
    err = io.StringIO()
    assert main(["fake", "serve", "--journal-events", "0"], stderr=err) == 2
    assert "--journal-events must be 1 or more" in err.getvalue()


def test_fake_serve_reads_a_script_file_with_rules(tmp_path: Path) -> None:
    script = {
        "script": [{"text": "First."}],
        "rules": [{"when": {"contains": "again"}, "reply": {"text": "Again."}, "times": 2}],
    }
    (tmp_path / "script.json").write_text(json.dumps(script))
    with fake_serve("--script", str(tmp_path / "script.json")) as served:
        status, body = served.request("GET", "check")
    assert status == 409
    assert body["unused"] == [{"text": "First."}, script["rules"][0]]
