"""Session details: configuration, guards, and history following deletes."""

from __future__ import annotations

import anyio
import pytest

import realtime
from tests._util import EventLog
from tests.conftest import Wire
from tests.test_session import collect_until_done, session


def test_configuration_is_built_from_the_arguments() -> None:
    config = realtime.Session._build_config(
        "Be brief.", "verse", None, ["audio"], {"tool_choice": "none"}
    )
    assert config == {
        "type": "realtime",
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "audio": {"output": {"voice": "verse"}, "input": {"turn_detection": None}},
        "tool_choice": "none",
    }


def test_connection_before_open_is_an_error() -> None:
    s = realtime.Session(realtime.ModelConfig(api_key="k"))
    with pytest.raises(RuntimeError, match="not open"):
        _ = s.connection


async def test_audio_chunk_size_guard(wire: Wire) -> None:
    async with session(wire) as s:
        with pytest.raises(ValueError, match="at least 2"):
            await s.send_audio(b"\x00\x00", chunk_size=1)


async def test_history_follows_deletes(wire: Wire) -> None:
    async with session(wire) as s:
        await s.send_text("first")
        await collect_until_done(s)
        user_id = s.history[0]["id"]
        log = EventLog()
        s.connection.add_listener(log)  # after the session's own handler
        await s.connection.send_message({"type": "conversation.item.delete", "item_id": user_id})
        await log.wait_for("conversation.item.deleted")
    assert [item.get("role") for item in s.history] == ["assistant"]


async def test_response_active_spans_the_tool_round(wire: Wire) -> None:
    # The docs' loop ends at `ResponseDone(...) if not s.response_active`: the function-call
    # response must not end it while its tool still runs and a follow-up will be requested.
    release = anyio.Event()

    @realtime.tool
    async def slow_lookup(city: str) -> str:
        """Look up slowly.

        Args:
            city: The city.
        """
        await release.wait()
        return f"foggy in {city}"

    wire.fake.reply_function_call("slow_lookup", {"city": "London"})
    wire.fake.reply_text("Foggy.")
    seen: list[tuple[str, bool]] = []
    async with session(wire, tools=[slow_lookup]) as s:
        await s.send_text("Weather in London?")  # asks for the response itself
        with anyio.fail_after(10):
            async for event in s:
                if isinstance(event, realtime.ResponseDone):
                    seen.append((event.text, s.response_active))
                    release.set()
                    if not s.response_active:
                        break
    assert seen == [("", True), ("Foggy.", False)]
