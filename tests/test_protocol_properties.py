"""Property tests of the sans-I/O Protocol: a Hypothesis state machine plus fuzzed frames."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from realtime import ConnectionState, FrameEncodeError, LocalProtocolError, NotConnectedError
from realtime.events import Closed, Connected
from realtime.protocol._machine import Protocol
from realtime.protocol._state import TRANSITIONS, Trigger

S = ConnectionState
SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)
frames = (
    st.text()
    | json_values.map(json.dumps)
    | st.sampled_from(
        ['{"type":"session.created"}', '{"type":"error","error":{}}', '{"type":5}', "{", "[]"]
    )
)
close_codes = st.sampled_from([1000, 1001, 1005, 1006, 1008, 1009, 1011, 3000, 4999])


class ProtocolMachine(RuleBasedStateMachine):
    """Drives a Protocol only through moves legal per TRANSITIONS (as the driver does), and
    checks that illegal ones raise LocalProtocolError and change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol = Protocol(max_message_size=200)
        self.events: list[object] = []

    def _drain(self) -> None:
        self.events.extend(self.protocol.events_received())

    @property
    def state(self) -> ConnectionState:
        return self.protocol.state

    @precondition(lambda self: self.state is S.CONNECTING)
    @rule()
    def handshake_ok(self) -> None:
        self.protocol.handshake_succeeded("wss://x")

    @precondition(lambda self: self.state is S.CONNECTING)
    @rule()
    def handshake_failed(self) -> None:
        self.protocol.handshake_failed()

    @rule(text=frames)
    def receive_text(self, text: str) -> None:
        self.protocol.receive_text(text)

    @rule(data=st.binary(max_size=300))
    def receive_bytes(self, data: bytes) -> None:
        self.protocol.receive_bytes(data)

    @precondition(lambda self: self.state in (S.OPEN, S.CLOSING, S.CLOSED))
    @rule(code=close_codes, reason=st.text(max_size=10))
    def receive_close(self, code: int, reason: str) -> None:
        self.protocol.receive_close(code, reason)

    @rule(code=close_codes)
    def send_close(self, code: int) -> None:
        before = self.state
        must_send = self.protocol.send_close(code, "")
        assert must_send == (before is S.OPEN)

    @rule(code=close_codes)
    def fail(self, code: int) -> None:
        self.protocol.fail(code, "failed")

    @rule()
    def close_timed_out(self) -> None:
        self.protocol.close_timed_out(1.0)

    @rule()
    def reconnecting(self) -> None:
        if (self.state, Trigger.RECONNECT) in TRANSITIONS:
            self._drain()
            self.protocol.reconnecting()
        else:
            before = self.state
            try:
                self.protocol.reconnecting()
            except LocalProtocolError:
                assert self.state is before
            else:  # pragma: no cover
                raise AssertionError("illegal reconnect accepted")

    @rule(message=st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    def encode(self, message: dict[str, object]) -> None:
        message = {**message, "type": "x"}
        try:
            texts = self.protocol.encode(message)
        except NotConnectedError:
            assert self.state is not S.OPEN
        except FrameEncodeError:
            assert self.state is S.OPEN  # a float infinity: documented, nothing encoded
        else:
            assert self.state is S.OPEN and len(texts) == 1

    @rule()
    def drain(self) -> None:
        self._drain()

    @invariant()
    def state_is_one_of_four(self) -> None:
        assert self.state in (S.CONNECTING, S.OPEN, S.CLOSING, S.CLOSED)

    @invariant()
    def one_closed_per_life(self) -> None:
        events = self.events + list(self.protocol.pending_events())
        closed = sum(isinstance(e, Closed) for e in events)
        connected = sum(isinstance(e, Connected) for e in events)
        # Every life that got a Connected gets exactly one Closed once it ends (a failed or
        # abandoned handshake has neither); the live one has none yet.
        live = 1 if self.state in (S.OPEN, S.CLOSING) else 0
        assert closed == connected - live
        last_connected = max(
            (i for i, e in enumerate(events) if isinstance(e, Connected)), default=-1
        )
        tail = events[last_connected + 1 :]
        closes = [i for i, e in enumerate(tail) if isinstance(e, Closed)]
        assert len(closes) <= 1
        if closes:
            assert closes[0] == len(tail) - 1, "an event after Closed"


ProtocolMachine.TestCase.settings = SETTINGS
TestProtocolMachine = ProtocolMachine.TestCase


@SETTINGS
@given(st.lists(st.text() | st.binary() | json_values.map(json.dumps), max_size=20))
def test_random_frames_never_raise(frames_in: list[str | bytes]) -> None:
    protocol = Protocol(max_message_size=1000)
    protocol.handshake_succeeded("wss://x")
    for frame in frames_in:
        if isinstance(frame, bytes):
            protocol.receive_bytes(frame)
        else:
            protocol.receive_text(frame)
    events = protocol.events_received()
    assert isinstance(events[0], Connected)
    assert len(events) <= 1 + len(frames_in)
    assert protocol.state in (S.OPEN, S.CLOSING)
