"""Tests of realtime.events: parsing server frames into typed, lazy, immutable event views."""

from __future__ import annotations

import json
import pickle
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime import events as ev
from realtime._errors import InvalidFrameError
from realtime.events import (
    EVENT_TYPES,
    ServerEvent,
    ServerEventBase,
    UnknownEvent,
    parse_event,
    parse_text,
)

if sys.version_info >= (3, 11):
    from typing import assert_never
else:  # pragma: no cover
    from typing_extensions import assert_never

RECORDINGS = Path(__file__).parent.parent.parent / "shared" / "recordings"


def _server_frames() -> list[tuple[str, int, dict[str, Any]]]:
    frames = []
    for path in sorted(RECORDINGS.glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            record = json.loads(line)
            if record["from"] == "server":
                frames.append((path.name, lineno, record["event"]))
    return frames


def _property_names(cls: type[ServerEventBase]) -> tuple[str, ...]:
    names: tuple[str, ...] = getattr(cls, "__match_args__", ())
    return names


# --- the recordings of real sessions -------------------------------------------------------


@pytest.fixture(scope="module")
def recorded_frames() -> list[tuple[str, int, dict[str, Any]]]:
    if not RECORDINGS.is_dir():
        pytest.skip(f"no recordings at {RECORDINGS} (the shared/ directory beside the repo)")
    frames = _server_frames()
    assert frames, "recordings directory holds no server frames"
    return frames


def test_every_recorded_server_frame_parses_to_its_class(
    recorded_frames: list[tuple[str, int, dict[str, Any]]],
) -> None:
    for name, lineno, frame in recorded_frames:
        original = json.loads(json.dumps(frame))
        event = parse_event(frame)
        where = f"{name}:{lineno}"
        assert not isinstance(event, UnknownEvent), where
        assert type(event) is EVENT_TYPES[frame["type"]], where
        assert event.type == frame["type"], where
        assert event.to_dict() == original, where
        assert event.raw is frame, where
        for prop in _property_names(type(event)):
            getattr(event, prop)
        repr(event)


def test_recorded_frames_parse_from_text_too(
    recorded_frames: list[tuple[str, int, dict[str, Any]]],
) -> None:
    for _, _, frame in recorded_frames:
        event = parse_text(json.dumps(frame))
        assert event == parse_event(json.loads(json.dumps(frame)))


# --- agreement with the official SDK's types -----------------------------------------------

openai_rt = pytest.importorskip("openai.types.realtime")
pydantic = pytest.importorskip("pydantic")


def _strip(ann: Any) -> Any:
    while get_origin(ann) is typing.Annotated:
        ann = get_args(ann)[0]
    return ann


def _sdk_models() -> dict[str, Any]:
    models = {}
    for member in get_args(_strip(openai_rt.RealtimeServerEvent)):
        member = _strip(member)
        (wire_type,) = get_args(member.model_fields["type"].annotation)
        models[wire_type] = member
    return models


SDK_MODELS = _sdk_models()


def test_classes_match_the_sdk_union() -> None:
    assert len(SDK_MODELS) == 46
    assert set(EVENT_TYPES) == set(SDK_MODELS)
    assert len(set(EVENT_TYPES.values())) == 46
    assert set(get_args(ServerEvent)) == set(EVENT_TYPES.values())


@pytest.mark.parametrize("wire_type", sorted(SDK_MODELS))
def test_required_keys_and_fields_match_the_sdk_model(wire_type: str) -> None:
    model = SDK_MODELS[wire_type]
    cls = EVENT_TYPES[wire_type]
    fields = model.model_fields
    required = {f.alias or name for name, f in fields.items() if f.is_required()}
    assert cls._required == required
    assert _property_names(cls) == tuple(f.alias or n for n, f in fields.items() if n != "type")
    assert cls.type == wire_type  # type: ignore[attr-defined]


def _sample(ann: Any, *, full: bool) -> Any:
    """A minimal (or, with ``full``, a complete) JSON value valid for a pydantic annotation."""
    ann = _strip(ann)
    origin = get_origin(ann)
    if ann is str:
        return "x"
    if ann is int:
        return 1
    if ann is float:
        return 1.5
    if ann is bool:
        return True
    if ann is type(None):
        return None
    if ann is object or ann is Any:
        return {}
    if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
        model: Any = ann
        return {
            (f.alias or name): _sample(f.annotation, full=full)
            for name, f in model.model_fields.items()
            if f.is_required() or full
        }
    if origin is Literal:
        return get_args(ann)[0]
    if origin in (list, typing.List):  # noqa: UP006
        return [_sample(get_args(ann)[0], full=full)] if full else []
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {}
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(ann) if a is not type(None)]
        return _sample(members[0], full=full)
    raise AssertionError(f"no sample for {ann!r}")


@pytest.mark.parametrize("full", [False, True], ids=["minimal", "full"])
@pytest.mark.parametrize("wire_type", sorted(SDK_MODELS))
def test_synthetic_instance_of_every_event(wire_type: str, full: bool) -> None:
    model = SDK_MODELS[wire_type]
    frame = _sample(model, full=full)
    model.model_validate(frame)  # the sample itself is valid for the SDK
    event = parse_event(frame)
    assert type(event) is EVENT_TYPES[wire_type]
    assert event.to_dict() == frame
    for name in _property_names(type(event)):
        assert getattr(event, name) == frame.get(name)
    assert event.event_id == frame.get("event_id")
    # A frame without one required key (other than ``type``) is rejected.
    for key in event._required - {"type"}:
        partial = {k: v for k, v in frame.items() if k != key}
        with pytest.raises(InvalidFrameError, match=key) as info:
            parse_event(partial)
        assert info.value.frame is partial


# --- parse_event / parse_text edge cases ---------------------------------------------------

DELTA = {
    "type": "response.output_text.delta",
    "event_id": "event_1",
    "response_id": "resp_1",
    "item_id": "item_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "Hel",
}


def test_unknown_type_keeps_the_whole_payload() -> None:
    frame = {"type": "response.brand_new", "event_id": "e", "stuff": [1, {"a": None}]}
    event = parse_event(frame)
    assert isinstance(event, UnknownEvent)
    assert event.type == "response.brand_new"
    assert event.event_id == "e"
    assert event.raw is frame
    assert event.to_dict() == frame
    assert "response.brand_new" in repr(event)
    assert parse_event({"type": "x"}).event_id is None


@pytest.mark.parametrize(
    "obj",
    [
        [],
        ["type"],
        "response.done",
        None,
        3,
        {},
        {"event_id": "e"},
        {"type": 3},
        {"type": None},
        {"type": ["response.done"]},
        {"type": {"a": 1}},
    ],
)
def test_malformed_objects_raise_invalid_frame_error(obj: Any) -> None:
    with pytest.raises(InvalidFrameError) as info:
        parse_event(obj)
    assert info.value.frame is obj


def test_missing_required_key_names_it() -> None:
    frame = {k: v for k, v in DELTA.items() if k != "delta"}
    with pytest.raises(InvalidFrameError, match="delta"):
        parse_event(frame)


def test_extra_keys_and_wrong_nested_types_are_not_validated() -> None:
    event = parse_event({**DELTA, "delta": 5, "new_field": True})
    assert isinstance(event, ev.ResponseOutputTextDeltaEvent)
    assert event.raw["delta"] == 5
    assert event.raw["new_field"] is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '"response.done"',
        "null",
        "3",
        "NaN",
        '{"type": "x", "v": NaN}',
        '{"type": "x", "v": Infinity}',
        '{"type": "x", "v": -Infinity}',
        '{"type": "x"} trailing',
        "[" * 100_000 + "]" * 100_000,
        '{"type": "response.output_text.delta"}',
    ],
)
def test_parse_text_rejects_bad_frames(text: str) -> None:
    with pytest.raises(InvalidFrameError) as info:
        parse_text(text)
    assert info.value.frame is text


def test_parse_text_rejects_non_text() -> None:
    with pytest.raises(InvalidFrameError):
        parse_text(b'{"type": "x"}')  # type: ignore[arg-type]


# --- behaviour of the event objects --------------------------------------------------------


def test_events_are_frozen() -> None:
    event = ev.ResponseOutputTextDeltaEvent(dict(DELTA))
    with pytest.raises(AttributeError):
        event.delta = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event._raw = {}
    with pytest.raises(AttributeError):
        event.other = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del event.delta
    with pytest.raises(AttributeError):
        del event._raw
    assert event.raw == DELTA


def test_equality_and_hash() -> None:
    a = parse_event(dict(DELTA))
    b = parse_event(dict(DELTA))
    c = parse_event({**DELTA, "delta": "lo"})
    assert a == b
    assert a != c
    assert a != DELTA
    assert parse_event({"type": "x"}) == parse_event({"type": "x"})
    assert ev.ResponseOutputTextDoneEvent(dict(DELTA)) != a  # same raw, other class
    with pytest.raises(TypeError):
        hash(a)


def test_to_dict_is_a_deep_copy() -> None:
    frame: dict[str, Any] = {
        "type": "rate_limits.updated",
        "event_id": "e",
        "rate_limits": [{"name": "x"}],
    }
    event = parse_event(frame)
    copied = event.to_dict()
    assert copied == frame
    copied["rate_limits"][0]["name"] = "changed"
    assert frame["rate_limits"][0]["name"] == "x"


def test_repr_truncates_long_strings() -> None:
    audio = "A" * 6400
    event = parse_event({**DELTA, "type": "response.output_audio.delta", "delta": audio})
    text = repr(event)
    assert text.startswith("ResponseOutputAudioDeltaEvent(content_index=0, delta='AAAA")
    assert "<6400 chars>" in text
    assert len(text) < 300
    assert "response_id='resp_1'" in text
    # Absent optional fields are left out; present nested values are shortened.
    committed = parse_event(
        {"type": "input_audio_buffer.committed", "event_id": "e", "item_id": "i"}
    )
    assert repr(committed) == "InputAudioBufferCommittedEvent(event_id='e', item_id='i')"
    big = parse_event({"type": "rate_limits.updated", "event_id": "e", "rate_limits": [{}] * 50})
    assert len(repr(big)) < 120


def test_pickle_round_trip() -> None:
    event = parse_event(dict(DELTA))
    assert pickle.loads(pickle.dumps(event)) == event


def test_connection_events() -> None:
    err = InvalidFrameError("bad", frame="{")
    connected = ev.Connected(url="wss://x/v1/realtime")
    notes: list[ev.ConnectionEvent] = [
        connected,
        ev.Closed(code=1000, reason="", clean=True),
        ev.FrameError(error=err, raw="{"),
        ev.Reconnecting(attempt=1, delay=0.5, close_code=1006),
        ev.Reconnected(attempt=1),
    ]
    assert [n.type for n in notes] == [
        "realtime.connected",
        "realtime.closed",
        "realtime.frame_error",
        "realtime.reconnecting",
        "realtime.reconnected",
    ]
    assert notes[1] == ev.Closed(1000, "", True, ())
    with pytest.raises(AttributeError):
        connected.url = "y"  # type: ignore[misc]


# --- match ---------------------------------------------------------------------------------


def describe(event: ServerEvent) -> str:
    """Exhaustive over ServerEvent: mypy flags a missing class at ``assert_never``."""
    match event:
        case ev.ResponseOutputTextDeltaEvent(delta=delta):
            return f"text {delta}"
        case ev.ResponseOutputAudioDeltaEvent(delta=delta, item_id=item_id):
            return f"audio {len(delta)} for {item_id}"
        case ev.ResponseDoneEvent(response=response):
            return f"done {response.get('status')}"
        case ev.ErrorEvent(error=error):
            return f"error {error['message']}"
        case ev.ConversationItemAddedEvent(item=item) | ev.ConversationItemDoneEvent(item=item):
            return f"item {item.get('id')}"
        case (
            ev.ConversationCreatedEvent()
            | ev.ConversationItemCreatedEvent()
            | ev.ConversationItemDeletedEvent()
            | ev.ConversationItemInputAudioTranscriptionCompletedEvent()
            | ev.ConversationItemInputAudioTranscriptionDeltaEvent()
            | ev.ConversationItemInputAudioTranscriptionFailedEvent()
            | ev.ConversationItemInputAudioTranscriptionSegmentEvent()
            | ev.ConversationItemRetrievedEvent()
            | ev.ConversationItemTruncatedEvent()
            | ev.InputAudioBufferClearedEvent()
            | ev.InputAudioBufferCommittedEvent()
            | ev.InputAudioBufferDtmfEventReceivedEvent()
            | ev.InputAudioBufferSpeechStartedEvent()
            | ev.InputAudioBufferSpeechStoppedEvent()
            | ev.InputAudioBufferTimeoutTriggeredEvent()
            | ev.McpListToolsCompletedEvent()
            | ev.McpListToolsFailedEvent()
            | ev.McpListToolsInProgressEvent()
            | ev.OutputAudioBufferClearedEvent()
            | ev.OutputAudioBufferStartedEvent()
            | ev.OutputAudioBufferStoppedEvent()
            | ev.RateLimitsUpdatedEvent()
            | ev.ResponseContentPartAddedEvent()
            | ev.ResponseContentPartDoneEvent()
            | ev.ResponseCreatedEvent()
            | ev.ResponseFunctionCallArgumentsDeltaEvent()
            | ev.ResponseFunctionCallArgumentsDoneEvent()
            | ev.ResponseMcpCallCompletedEvent()
            | ev.ResponseMcpCallFailedEvent()
            | ev.ResponseMcpCallInProgressEvent()
            | ev.ResponseMcpCallArgumentsDeltaEvent()
            | ev.ResponseMcpCallArgumentsDoneEvent()
            | ev.ResponseOutputAudioDoneEvent()
            | ev.ResponseOutputAudioTranscriptDeltaEvent()
            | ev.ResponseOutputAudioTranscriptDoneEvent()
            | ev.ResponseOutputItemAddedEvent()
            | ev.ResponseOutputItemDoneEvent()
            | ev.ResponseOutputTextDoneEvent()
            | ev.SessionCreatedEvent()
            | ev.SessionUpdatedEvent()
        ):
            return event.type
        case _:
            assert_never(event)


def test_match_by_class_and_keyword() -> None:
    event = parse_event(dict(DELTA))
    assert not isinstance(event, UnknownEvent)
    assert describe(event) == "text Hel"
    match event:
        case ev.ResponseOutputTextDeltaEvent(content_index, delta):
            assert (content_index, delta) == (0, "Hel")
        case _:  # pragma: no cover
            pytest.fail("no match")
    error = parse_event({"type": "error", "event_id": "e", "error": {"type": "t", "message": "m"}})
    assert not isinstance(error, UnknownEvent)
    assert describe(error) == "error m"
    cleared = parse_event({"type": "input_audio_buffer.cleared", "event_id": "e"})
    assert not isinstance(cleared, UnknownEvent)
    assert describe(cleared) == "input_audio_buffer.cleared"


# --- property-based: nothing but InvalidFrameError escapes ---------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
event_keys = st.sampled_from(
    sorted({k for cls in EVENT_TYPES.values() for k in cls._required} | {"previous_item_id"})
)
type_values = st.sampled_from(sorted(EVENT_TYPES)) | st.text(max_size=10) | json_values
event_like = st.builds(
    lambda t, body: {**body, "type": t},
    type_values,
    st.dictionaries(event_keys | st.text(max_size=8), json_values, max_size=10),
)


def _check_parse(obj: Any) -> None:
    try:
        event = parse_event(obj)
    except InvalidFrameError as exc:
        frame = exc.frame
        assert frame is obj
        return
    assert isinstance(obj, dict)
    assert event.raw is obj
    for name in _property_names(type(event)):
        getattr(event, name)
    repr(event)
    assert event.to_dict() == obj


@settings(max_examples=150, deadline=None)
@given(event_like | json_values)
def test_parse_event_raises_only_invalid_frame_error(obj: Any) -> None:
    _check_parse(obj)


@settings(max_examples=100, deadline=None)
@given(event_like | json_values)
def test_parse_text_of_json_raises_only_invalid_frame_error(obj: Any) -> None:
    _check_parse_text(json.dumps(obj))


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_parse_text_of_any_text_raises_only_invalid_frame_error(text: str) -> None:
    _check_parse_text(text)


def _check_parse_text(text: str) -> None:
    # Anything but InvalidFrameError fails the test; the error carries the text it refused.
    try:
        parse_text(text)
    except InvalidFrameError as exc:
        frame = exc.frame
        assert frame is text
