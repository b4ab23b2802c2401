"""The sans-I/O protocol, without any transport or task."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime import (
    BinaryFrame,
    ConnectionState,
    FrameEncodeError,
    InvalidFrameError,
    LocalProtocolError,
    NotConnectedError,
    PingFrame,
    PongFrame,
    TextFrame,
)
from realtime.events import Closed, Connected, FrameError
from realtime.protocol._machine import Protocol, encode_messages

S = ConnectionState


def opened(**kwargs: Any) -> Protocol:
    protocol = Protocol(**kwargs)
    protocol.handshake_succeeded("wss://example.test/v1/realtime")
    assert protocol.events_received() == [Connected(url="wss://example.test/v1/realtime")]
    return protocol


def test_handshake_opens() -> None:
    protocol = Protocol()
    assert protocol.state is S.CONNECTING
    protocol.handshake_succeeded("wss://x")
    assert protocol.state is S.OPEN


def test_handshake_failure_closes_without_events() -> None:
    protocol = Protocol()
    protocol.handshake_failed()
    assert protocol.state is S.CLOSED
    assert protocol.events_received() == []


def test_handshake_twice_is_a_local_error() -> None:
    protocol = opened()
    with pytest.raises(LocalProtocolError, match="handshake_ok"):
        protocol.handshake_succeeded("wss://x")


def test_text_becomes_event_in_order() -> None:
    protocol = opened()
    protocol.receive_text('{"type":"session.created","event_id":"e1","session":{}}')
    protocol.receive_text('{"type":"x.unknown","n":1}')
    first, second = protocol.events_received()
    assert first.type == "session.created"
    assert second.type == "x.unknown" and second.to_dict() == {"type": "x.unknown", "n": 1}
    assert protocol.events_received() == []


@pytest.mark.parametrize("text", ["not json", "[1,2]", '"str"', "{}", '{"type": 5}', "NaN", ""])
def test_bad_text_is_recorded_not_raised(text: str) -> None:
    protocol = opened()
    protocol.receive_text(text)
    [event] = protocol.events_received()
    assert isinstance(event, FrameError)
    assert isinstance(event.error, InvalidFrameError)
    assert event.raw == text
    assert protocol.state is S.OPEN


def test_binary_is_a_frame_error() -> None:
    protocol = opened()
    protocol.receive_bytes(b"\x00\x01")
    [event] = protocol.events_received()
    assert isinstance(event, FrameError) and event.raw == b"\x00\x01"
    assert "binary" in str(event.error)
    assert protocol.state is S.OPEN


@pytest.mark.parametrize("payload", ["x" * 11, b"x" * 11])
def test_oversized_message_starts_a_1009_close(payload: str | bytes) -> None:
    protocol = opened(max_message_size=10)
    if isinstance(payload, str):
        protocol.receive_text(payload)
    else:
        protocol.receive_bytes(payload)
    assert protocol.state is S.CLOSING
    code, reason = protocol.close_to_send() or (0, "")
    assert code == 1009 and "11" in reason and "max_message_size=10" in reason
    assert protocol.close_to_send() is None
    # A second oversized message while closing does not start another close.
    protocol.receive_text("y" * 20)
    assert protocol.close_to_send() is None
    protocol.receive_close(1009, "")
    [closed] = protocol.events_received()
    assert closed == Closed(code=1009, reason=reason, clean=True)
    assert protocol.state is S.CLOSED


def test_message_at_the_limit_is_fine() -> None:
    protocol = opened(max_message_size=20)
    protocol.receive_text('{"type":"a.b"}')
    assert protocol.state is S.OPEN
    assert [e.type for e in protocol.events_received()] == ["a.b"]


@pytest.mark.parametrize(
    ("ending", "code", "reason", "clean"),
    [("receive_close", 4000, "bye", True), ("fail", 1011, "keepalive", False)],
    ids=["peer_close", "fail"],
)
def test_the_first_ending_is_reported_and_what_follows_ignored(
    ending: str, code: int, reason: str, clean: bool
) -> None:
    protocol = opened()
    end = getattr(protocol, ending)
    end(code, reason)
    assert protocol.state is S.CLOSED
    assert protocol.events_received() == [Closed(code=code, reason=reason, clean=clean)]
    end(1000, "again")
    protocol.receive_text('{"type":"late"}')
    assert protocol.events_received() == []


def test_peer_loss() -> None:
    lost = opened()
    lost.receive_close(1006, "connection lost")
    assert lost.events_received() == [Closed(code=1006, reason="connection lost", clean=False)]


def test_local_close_is_reported_with_our_code() -> None:
    protocol = opened()
    assert protocol.send_close(1000, "done") is True
    assert protocol.state is S.CLOSING
    assert protocol.send_close() is False  # idempotent
    protocol.receive_text('{"type":"still.delivered"}')
    protocol.receive_close(1000, "")
    events = protocol.events_received()
    assert [e.type for e in events] == ["still.delivered", "realtime.closed"]
    assert events[-1] == Closed(code=1000, reason="done", clean=True)
    assert protocol.send_close() is False


def test_close_before_open_abandons() -> None:
    protocol = Protocol()
    assert protocol.send_close() is False
    assert protocol.state is S.CLOSED


def test_close_timeout() -> None:
    protocol = opened()
    protocol.close_timed_out(1.5)  # not closing: nothing happens
    assert protocol.state is S.OPEN
    protocol.send_close()
    protocol.close_timed_out(1.5)
    assert protocol.state is S.CLOSED
    [closed] = protocol.events_received()
    assert closed.code == 1000 and not closed.clean and "1.5" in closed.reason


def test_reconnecting_goes_back_to_connecting() -> None:
    protocol = opened()
    with pytest.raises(LocalProtocolError):
        protocol.reconnecting()
    protocol.receive_close(1001, "going away")
    protocol.reconnecting()
    assert protocol.state is S.CONNECTING
    protocol.handshake_succeeded("wss://x")
    assert protocol.state is S.OPEN


# -- encoding -------------------------------------------------------------------------------


def test_encode_one_and_many() -> None:
    protocol = opened()
    assert protocol.encode({"type": "response.create"}) == ['{"type":"response.create"}']
    texts = protocol.encode([{"type": "a", "x": "é"}, {"type": "b", "n": [1, 2.5, None]}])
    assert texts == ['{"type":"a","x":"é"}', '{"type":"b","n":[1,2.5,null]}']


@pytest.mark.parametrize(
    ("messages", "index", "fragment"),
    [
        ([{"type": "a"}, "not a dict"], 1, "not a dict"),
        ([{"type": "a"}, {"no": "type"}], 1, "no string 'type'"),
        ([{"type": 3}], 0, "no string 'type'"),
        ([{"type": "a", "v": math.nan}], 0, "cannot be encoded"),
        ([{"type": "a", "v": math.inf}], 0, "cannot be encoded"),
        ([{"type": "a"}, {"type": "b", "v": b"bytes"}], 1, "cannot be encoded"),
        ([{"type": "a", "v": {1, 2}}], 0, "cannot be encoded"),
        ([{"type": "a", "v": object()}], 0, "cannot be encoded"),
    ],
)
def test_encode_errors_name_the_message(messages: list[Any], index: int, fragment: str) -> None:
    with pytest.raises(FrameEncodeError, match=fragment) as info:
        opened().encode(messages)
    assert info.value.index == index
    assert info.value.message is messages[index]


def test_encode_circular_is_an_encode_error() -> None:
    message: dict[str, Any] = {"type": "a"}
    message["self"] = message
    with pytest.raises(FrameEncodeError):
        encode_messages(message)


@pytest.mark.parametrize("state", ["connecting", "closing", "closed"])
def test_encode_requires_open(state: str) -> None:
    protocol = Protocol()
    if state != "connecting":
        protocol.handshake_succeeded("wss://x")
        protocol.send_close()
        if state == "closed":
            protocol.receive_close(1000)
    with pytest.raises(NotConnectedError) as info:
        protocol.encode({"type": "a"})
    assert info.value.connection_state.name == state.upper()
    with pytest.raises(NotConnectedError):
        protocol.check_frame(TextFrame("x"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.text(), st.dictionaries(st.text(), json_values, max_size=5))
def test_encode_round_trips_any_json_object(type_: str, body: dict[str, Any]) -> None:
    message = {**body, "type": type_}
    [text] = encode_messages(message)
    assert json.loads(text) == message


@given(st.text())
def test_parser_never_raises_on_any_text(text: str) -> None:
    protocol = opened()
    protocol.receive_text(text)
    [event] = protocol.events_received()
    assert protocol.state is S.OPEN
    assert isinstance(event, FrameError) or event.to_dict() == json.loads(text)


# -- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [TextFrame("x"), BinaryFrame(b"x"), PingFrame(), PongFrame(b"p" * 125), PingFrame(b"1")],
)
def test_valid_frames(frame: Any) -> None:
    assert opened().check_frame(frame) is frame


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (TextFrame(b"x"), "must be a str"),  # type: ignore[arg-type]
        (BinaryFrame("x"), "must be bytes"),  # type: ignore[arg-type]
        (PingFrame("x"), "must be bytes"),  # type: ignore[arg-type]
        (PingFrame(b"p" * 126), "at most 125"),
        (PongFrame(b"p" * 126), "at most 125"),
        ({"type": "x"}, "not a frame"),
        ("text", "not a frame"),
    ],
)
def test_invalid_frames(frame: Any, fragment: str) -> None:
    with pytest.raises(InvalidFrameError, match=fragment) as info:
        opened().check_frame(frame)
    assert info.value.frame is frame


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"type":"a"}', True),
        (' \n{"type":"a"}', True),  # leading whitespace: the slow path
        ('{"type":"a"} \t\r\n', True),
        ('{"type":"a"} x', False),  # trailing data
        ('{"type":"a"}\x0b', False),  # not JSON whitespace, though str.strip() would eat it
        ('{"type":"a"}{"type":"b"}', False),
        ('{"type":"a","v":NaN}', False),
        ('{"type":"a","v":-Infinity}', False),
    ],
)
def test_fast_decoder_agrees_with_json(text: str, ok: bool) -> None:
    protocol = opened()
    protocol.receive_text(text)
    [event] = protocol.events_received()
    if ok:
        assert event.to_dict() == json.loads(text)
    else:
        assert isinstance(event, FrameError)
