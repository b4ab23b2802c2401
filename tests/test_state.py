from __future__ import annotations

import pytest

from realtime import ConnectionState, LocalProtocolError
from realtime.protocol._state import TRANSITIONS, Trigger, can, next_state

S = ConnectionState


def test_exactly_four_ordered_states() -> None:
    assert [s.name for s in S] == ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]
    assert S.CONNECTING < S.OPEN < S.CLOSING < S.CLOSED
    assert str(S.OPEN) == "ConnectionState.OPEN"


@pytest.mark.parametrize(("move", "target"), list(TRANSITIONS.items()))
def test_every_move_in_the_table(move: tuple[S, Trigger], target: S) -> None:
    state, trigger = move
    assert can(state, trigger)
    assert next_state(state, trigger) is target


def test_illegal_move_names_trigger_and_state() -> None:
    illegal = [(s, t) for s in S for t in Trigger if (s, t) not in TRANSITIONS]
    assert (S.CLOSED, Trigger.CLOSE_SENT) in illegal
    for state, trigger in illegal:
        assert not can(state, trigger)
        with pytest.raises(LocalProtocolError) as info:
            next_state(state, trigger)
        assert info.value.trigger == trigger.value
        assert info.value.connection_state is state
        assert trigger.value in str(info.value) and state.name in str(info.value)


def test_every_state_reaches_closed() -> None:
    # No dead ends: from any state some path leads to CLOSED.
    reach = {S.CLOSED}
    changed = True
    while changed:
        changed = False
        for (state, _), target in TRANSITIONS.items():
            if target in reach and state not in reach:
                reach.add(state)
                changed = True
    assert reach == set(S)
