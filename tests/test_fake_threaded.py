"""The fake served from a background thread (what ``fake_realtime_url`` does): its async methods
and its sync fault methods work from the test's own loop, on asyncio and trio."""

from __future__ import annotations

import anyio
import pytest

import realtime
from fakes import FakeRealtimeServer
from fakes._threaded import serve_in_thread


async def test_faults_from_the_tests_loop_reach_the_fakes_own_loop() -> None:
    fake = FakeRealtimeServer()
    seen: list[str] = []
    with serve_in_thread(fake) as url:
        with pytest.raises(RuntimeError, match="already served"), serve_in_thread(fake):
            pass  # pragma: no cover - refused on entry
        config = realtime.ModelConfig(api_key="sk-test", url=url)
        with anyio.fail_after(10):
            async with realtime.connect(config) as conn:
                async for event in conn:
                    seen.append(event.type)
                    if event.type == "session.created":
                        break
                await fake.send_event({"type": "input_audio_buffer.cleared"})
                async for event in conn:
                    seen.append(event.type)
                    if event.type == "input_audio_buffer.cleared":
                        break
                fake.expire_sessions_after(0)
                async for event in conn:
                    seen.append(event.type)
                    if event.type == "realtime.closed":
                        break
    assert seen[-4:] == [
        "session.created",
        "input_audio_buffer.cleared",
        "error",
        "realtime.closed",
    ]
    # What the fake sent, not fake.connections[0].closed: that is recorded when the client's
    # close reply arrives, which may be after serve_in_thread stopped the server.
    errors = [event["error"]["code"] for event in fake.sent if event["type"] == "error"]
    assert errors == ["session_expired"]
    assert fake.session_limit == 0
