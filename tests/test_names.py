"""Names settled while the API is young: one name and one meaning each, the first spellings kept
as aliases of the same objects."""

from __future__ import annotations

import typing

import realtime
import realtime.events


def test_the_sessions_closed_event_is_session_ended() -> None:
    assert realtime.Closed is realtime.SessionEnded
    assert realtime.SessionEnded is not realtime.events.Closed
    assert realtime.SessionEnded.__name__ == "SessionEnded"
    assert realtime.SessionEnded in typing.get_args(realtime.SessionEvent)


def test_the_session_configuration_typeddict_is_session_config() -> None:
    assert realtime.events.Session is realtime.events.SessionConfig
    assert realtime.Session is not realtime.events.SessionConfig
    assert {t.__name__ for t in typing.get_args(realtime.events.SessionConfig)} == {
        "RealtimeSessionCreateRequest",
        "RealtimeTranscriptionSessionCreateRequest",
    }
    assert {"Session", "SessionConfig"} <= set(realtime.events.__all__)
    assert {"Closed", "SessionEnded"} <= set(realtime.__all__)
