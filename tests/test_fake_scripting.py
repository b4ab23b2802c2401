"""Scripting (handlers, strictness), faults, inspection, and server-side failures surfacing in
the test."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import realtime
from fakes import FakeConnection, FakeRealtimeServer
from realtime.transports import MemoryTransport
from tests.fake_client import connect, types, user_text


async def test_on_handler_replaces_the_default_and_can_keep_it() -> None:
    fake = FakeRealtimeServer()
    seen: list[str] = []

    @fake.on("conversation.item.create")
    async def log_and_default(event: dict[str, Any], conn: FakeConnection) -> None:
        seen.append(event["item"]["content"][0]["text"])
        await conn.handle_default(event)

    def custom_reply(event: dict[str, Any], conn: FakeConnection) -> None:
        seen.append("sync handler")

    fake.on("input_audio_buffer.clear", custom_reply)

    async def answer(event: dict[str, Any], conn: FakeConnection) -> None:
        await conn.send_event(
            {
                "type": "conversation.created",
                "conversation": {"id": "conv_1", "object": "realtime.conversation"},
            }
        )

    fake.on("response.create", answer)
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send(user_text("hi"))
            await client.until("conversation.item.done")
            await client.send({"type": "input_audio_buffer.clear"})
            await client.send({"type": "response.create"})
            created = await client.recv()
    assert seen == ["hi", "sync handler"]
    assert created["type"] == "conversation.created"  # not cleared: the handler replaced it
    assert [e["type"] for e in fake.received] == [
        "conversation.item.create",
        "input_audio_buffer.clear",
        "response.create",
    ]


async def test_a_failing_handler_closes_1011_and_is_reraised() -> None:
    fake = FakeRealtimeServer()

    @fake.on("response.create")
    def must_have_instructions(event: dict[str, Any], conn: FakeConnection) -> None:
        assert "instructions" in event.get("response", {}), "the app forgot its instructions"

    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            close = await client.closed()
    assert close.code == 1011
    with pytest.raises(AssertionError, match="the app forgot its instructions"):
        fake.check()


async def _app_without_the_tool() -> None:
    async with FakeRealtimeServer() as fake:
        fake.reply_function_call("missing", {})
        with anyio.fail_after(5):
            async with connect(fake) as client:
                await client.send({"type": "response.create"})
                close = await client.closed()
        assert close.code == 1011


async def test_a_failure_is_reraised_from_async_with() -> None:
    with pytest.raises(AssertionError, match="declared no function tool named 'missing'"):
        await _app_without_the_tool()


async def test_the_core_client_does_not_hang_on_a_server_failure() -> None:
    fake = FakeRealtimeServer()
    fake.on("response.create", lambda event, conn: 1 / 0)
    config = realtime.ModelConfig(api_key="sk-test", url="wss://api.openai.com/v1/realtime")
    closes = []
    with anyio.fail_after(5):
        async with realtime.connect(config, transport=MemoryTransport(fake)) as conn:
            await conn.send_message({"type": "response.create"})
            async for event in conn:
                if event.type == "realtime.closed":
                    closes.append(event.code)
    assert closes == [1011]
    # A test failure that says where it happened, caused by the handler's exception.
    with pytest.raises(
        AssertionError, match=r"on\('response.create'\) handler raised Zero"
    ) as info:
        fake.check()
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_strict_check_lists_unused_steps() -> None:
    fake = FakeRealtimeServer()
    fake.reply_text("used")
    fake.reply_function_call("get_weather", {"city": "Paris"})
    fake.transcribe("never said")
    assert fake.script.next_reply() is not None
    with pytest.raises(AssertionError) as info:
        fake.check()
    report = str(info.value)
    assert "2 scripted step(s) never used" in report
    assert "+ reply_text('used')  (used)" in report
    assert """- reply_function_call('get_weather', '{"city": "Paris"}')  (NEVER USED)""" in report
    assert "- transcribe('never said')  (NEVER USED)" in report
    fake.check(strict=False)


async def test_faults_close_drop_raw_and_expiry() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await fake.send_raw('{"type": "not.an.event"}')
            assert await client.recv() == {"type": "not.an.event"}
            await fake.close_connections(4001, "go away")
            close = await client.closed()
        assert (close.code, close.reason) == (4001, "go away")
        async with connect(fake) as client:
            await fake.drop_connections()
            dropped = await client.closed()
        assert dropped.code == 1006
        async with connect(fake) as client:
            fake.expire_sessions_after(0.01)
            error = await client.recv()
            expired = await client.closed()
        async with connect(fake) as client:
            # A later connection expires too, counted from when it opened.
            assert (await client.recv())["error"]["code"] == "session_expired"
    assert error["error"]["code"] == "session_expired"
    assert (expired.code, expired.reason) == (
        1001,
        "Your session hit the maximum duration of 60 minutes.",
    )
    assert [c.closed for c in fake.connections][:2] == [
        (4001, "go away"),
        (1006, "aborted by the fake"),
    ]


async def test_latency_is_injected_before_each_event() -> None:
    fake = FakeRealtimeServer(latency=0.02)
    with anyio.fail_after(5):
        start = anyio.current_time()
        async with connect(fake) as client:
            await client.send({"type": "input_audio_buffer.clear"})
            await client.recv()
        assert anyio.current_time() - start >= 0.04


async def test_inspection_per_connection() -> None:
    fake = FakeRealtimeServer()
    with anyio.fail_after(5):
        async with connect(
            fake, headers=(("Authorization", "Bearer k1"), ("OpenAI-Project", "p"))
        ) as a:
            await a.send({"type": "input_audio_buffer.clear", "event_id": "a"})
            await a.recv()
        async with connect(fake, query="call_id=rtc_123") as b:
            await b.send({"type": "input_audio_buffer.clear", "event_id": "b"})
            await b.recv()
    first, second = fake.connections
    assert first.path == "/v1/realtime"
    assert first.headers["openai-project"] == "p"
    assert first.received == [{"type": "input_audio_buffer.clear", "event_id": "a"}]
    assert second.query == {"call_id": "rtc_123"}
    assert second.model is None
    assert [e["event_id"] for e in fake.received] == ["a", "b"]
    assert types(first.sent) == ["session.created", "input_audio_buffer.cleared"]
    assert fake.sent == first.sent + second.sent
    assert first.session["id"] != second.session["id"]


async def test_scripting_only_events_validate() -> None:
    """The events the fake never sends by itself over WebSocket (MCP, WebRTC/SIP output audio
    buffer, DTMF, the legacy ``conversation.created``/``conversation.item.created``) can be sent
    from a handler, and are validated like the rest."""
    fake = FakeRealtimeServer()

    @fake.on("response.create")
    async def mcp_turn(event: dict[str, Any], conn: FakeConnection) -> None:
        item = {"item_id": "mcp_1"}
        out = {"item_id": "mcp_2", "output_index": 0}
        for kind in ("in_progress", "completed", "failed"):
            await conn.send_event({"type": f"mcp_list_tools.{kind}", **item})
            await conn.send_event({"type": f"response.mcp_call.{kind}", **out})
        await conn.send_event(
            {
                "type": "response.mcp_call_arguments.delta",
                "response_id": "resp_1",
                "delta": "{",
                **out,
            }
        )
        await conn.send_event(
            {
                "type": "response.mcp_call_arguments.done",
                "response_id": "resp_1",
                "arguments": "{}",
                **out,
            }
        )
        for kind in ("started", "stopped", "cleared"):
            await conn.send_event({"type": f"output_audio_buffer.{kind}", "response_id": "resp_1"})
        await conn.send_dtmf("5")
        await conn.send_event(
            {
                "type": "conversation.item.created",
                "previous_item_id": None,
                "item": {
                    "id": "item_1",
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": "o",
                },
            }
        )

    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            seen = await client.until("conversation.item.created")
    dtmf = next(e for e in seen if e["type"] == "input_audio_buffer.dtmf_event_received")
    assert dtmf == {
        "type": "input_audio_buffer.dtmf_event_received",
        "event": "5",
        "received_at": 1_760_000_000,
    }
    assert len(seen) == 6 + 2 + 3 + 1 + 1


async def _failure_of(fake: FakeRealtimeServer) -> tuple[dict[str, Any], Any]:
    with anyio.fail_after(5):
        async with connect(fake) as client:
            await client.send({"type": "response.create"})
            close = await client.closed()
    (error,) = [e for e in client.events if e["type"] == "error"]
    return error["error"], close


async def test_a_failure_explains_itself_to_the_client() -> None:
    fake = FakeRealtimeServer()

    @fake.on("response.create")
    def must_have_instructions(event: dict[str, Any], conn: FakeConnection) -> None:
        assert "instructions" in event, "the app forgot its instructions"

    error, close = await _failure_of(fake)
    assert error["type"] == "server_error" and error["code"] == "fake_server_failure"
    assert error["message"] == (
        "The fake Realtime server failed: the on('response.create') handler raised "
        "AssertionError: the app forgot its instructions"
    )
    assert (close.code, close.reason) == (
        1011,
        "fake: on('response.create') handler: the app forgot its instructions",
    )
    assert fake.connections[0].closed == (1011, close.reason)
    assert fake.check_report()[0] == [
        error["message"].removeprefix("The fake Realtime server failed: ")
    ]


async def test_a_bare_assert_still_names_where_it_failed() -> None:
    fake = FakeRealtimeServer()

    def bare(event: dict[str, Any], conn: FakeConnection) -> None:
        raise AssertionError

    fake.on("response.create", bare)
    error, close = await _failure_of(fake)
    assert close.reason == "fake: on('response.create') handler raised AssertionError"
    assert error["message"].endswith("the on('response.create') handler raised AssertionError")
    with pytest.raises(AssertionError):
        fake.check()


async def test_a_long_reason_is_cut_to_a_close_frame() -> None:
    fake = FakeRealtimeServer()

    def wordy(event: dict[str, Any], conn: FakeConnection) -> None:
        raise AssertionError("é" * 200 + "\nsecond line")

    fake.on("response.create", wordy)
    error, close = await _failure_of(fake)
    assert len(close.reason.encode()) <= 123
    assert close.reason.startswith("fake: on('response.create') handler: éé")
    assert close.reason.endswith("...")
    assert "é" * 200 in error["message"] and "second line" not in error["message"]


async def test_a_failure_of_the_fake_itself_names_the_exception_and_its_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fakes._behaviour import Behaviour

    async def broken(self: Behaviour, event: dict[str, Any]) -> None:
        raise RuntimeError("state went wrong")

    monkeypatch.setattr(Behaviour, "response_create", broken)
    fake = FakeRealtimeServer()
    error, close = await _failure_of(fake)
    assert close.reason == "fake server failure: RuntimeError: state went wrong"
    assert "RuntimeError: state went wrong" in error["message"]
    with pytest.raises(AssertionError, match="failed with RuntimeError") as info:
        fake.check()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_failures_are_raised_without_assert_statements(tmp_path: Any) -> None:
    """``python -O`` strips ``assert`` statements: the fake's own checks must survive it."""
    import subprocess
    import sys
    from pathlib import Path

    program = tmp_path / "check_o.py"
    program.write_text(
        "import anyio\n"
        "from fakes import FakeRealtimeServer\n"
        "from tests.fake_client import connect\n"
        "async def main():\n"
        "    fake = FakeRealtimeServer()\n"
        "    fake.reply_function_call('undeclared', {})\n"
        "    fake.when(contains='x')\n"
        "    async with connect(fake) as client:\n"
        "        await client.send({'type': 'response.create'})\n"
        "        close = await client.closed()\n"
        "    print(close.code, close.reason)\n"
        "    try:\n"
        "        fake.check()\n"
        "    except AssertionError as exc:\n"
        "        print('raised:', str(exc)[:60])\n"
        "anyio.run(main)\n"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-O", str(program)],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1011 fake: the script calls function 'undeclared'")
    assert lines[1].startswith("raised: the script says reply_function_call('undeclared'")


async def test_a_script_failure_inside_a_handler_keeps_the_script_s_words() -> None:
    fake = FakeRealtimeServer()
    fake.reply_function_call("undeclared", {})

    @fake.on("response.create")
    async def default(event: dict[str, Any], conn: FakeConnection) -> None:
        await conn.handle_default(event)

    _, close = await _failure_of(fake)
    assert (
        close.reason == "fake: the script calls function 'undeclared', which the app never declared"
    )
    with pytest.raises(AssertionError, match="declared no function tool named 'undeclared'"):
        fake.check()


async def test_check_counts_the_other_failures() -> None:
    fake = FakeRealtimeServer()
    fake.on("response.create", lambda event, conn: 1 / 0)
    await _failure_of(fake)
    await _failure_of(fake)
    with pytest.raises(AssertionError, match=r"\(1 more server-side failure\(s\)\)"):
        fake.check()
    failures, _ = fake.check_report()
    assert (
        failures
        == ["the on('response.create') handler raised ZeroDivisionError: division by zero"] * 2
    )


def test_check_report_lists_unused_steps_as_given() -> None:
    fake = FakeRealtimeServer()
    fake.fail_transcription("no speech")
    fake.transcribe("hi")
    fake.reply_text("x")
    assert fake.check_report() == (
        [],
        ["reply_text('x')", "fail_transcription('no speech')", "transcribe('hi')"],
    )
    assert fake.check_report(strict=False) == ([], [])
    fake.reset()
    assert fake.check_report() == ([], [])
