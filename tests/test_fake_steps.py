"""STEP: the one format of script files and the HTTP control plane, and its error messages."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from fakes._script import Audio, FunctionCall, Reply, Rule, Text, Transcript
from fakes._steps import StepError, parse_document, parse_rule, parse_step


def test_every_kind_of_step() -> None:
    pcm = b"\x01\x02" * 10
    audio = base64.b64encode(pcm).decode()
    assert parse_step({"text": "Hi"}) == Reply((Text("Hi"),))
    assert parse_step({"audio_base64": audio, "transcript": "t"}) == Reply((Audio(pcm, "t"),))
    assert parse_step({"audio_base64": audio}) == Reply((Audio(pcm, ""),))
    call = parse_step({"function_call": {"name": "f", "arguments": {"a": 1}, "call_id": "c"}})
    assert call == Reply((FunctionCall("f", '{"a": 1}', "c"),))
    assert parse_step({"function_call": {"name": "f", "arguments": '{"a": 1}'}}) == Reply(
        (FunctionCall("f", '{"a": 1}'),)
    )
    assert parse_step({"function_call": {"name": "f"}}) == Reply((FunctionCall("f", "{}"),))
    several = parse_step(
        {"outputs": [{"text": "a"}, {"function_call": {"name": "f"}}], "stall_after": 3}
    )
    assert several == Reply((Text("a"), FunctionCall("f", "{}")), 3)
    assert parse_step({"transcribe": "said"}) == Transcript("said")
    assert parse_step({"text": "x", "stall_after": None}) == Reply((Text("x"),))


def test_a_step_remembers_how_it_was_given() -> None:
    given: dict[str, Any] = {"text": "Hi", "stall_after": 2}
    step = parse_step(given)
    assert isinstance(step, Reply)
    assert step.as_given() is given
    assert Reply((Text("Hi"),)).as_given() == "reply_text('Hi')"


def test_audio_wav_only_in_files(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    read: list[Path] = []

    def read_wav(path: Path) -> bytes:
        read.append(path)
        return b"\0\0"

    step = parse_step({"audio_wav": "a.wav", "transcript": "x"}, read_wav=read_wav, base=tmp_path)
    assert step == Reply((Audio(b"\0\0", "x"),))
    parse_step({"audio_wav": str(tmp_path / "b.wav")}, read_wav=read_wav, base=Path("/elsewhere"))
    assert read == [tmp_path / "a.wav", tmp_path / "b.wav"]
    with pytest.raises(StepError, match=r"step.audio_wav: only script files .* audio_base64"):
        parse_step({"audio_wav": "a.wav"})


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("hi", r"step: expected an object \(a STEP\), got a string"),
        ({}, "step: expected one kind of step, found none"),
        ({"text": "a", "transcribe": "b"}, "found 'text' and 'transcribe'"),
        ({"text": 1}, "step.text: expected a string, got a number"),
        ({"text": "a", "colour": "red"}, "step: unknown key 'colour'"),
        ({"text": "a", "stall_after": "2"}, "step.stall_after: expected a whole number"),
        ({"text": "a", "stall_after": True}, "step.stall_after: expected a whole number"),
        ({"text": "a", "stall_after": -1}, "step.stall_after: expected 0 or more"),
        ({"audio_base64": "not base64!"}, "step.audio_base64: not valid base64"),
        ({"audio_base64": "AAAA", "transcript": 3}, "step.transcript: expected a string"),
        ({"function_call": "f"}, "step.function_call: expected an object"),
        ({"function_call": {"arguments": {}}}, "step.function_call: missing 'name'"),
        ({"function_call": {"name": 1}}, "step.function_call.name: expected a string"),
        ({"function_call": {"name": "f", "arguments": [1]}}, "arguments: expected an object or"),
        ({"function_call": {"name": "f", "call_id": 1}}, "call_id: expected a string"),
        ({"function_call": {"name": "f", "id": "x"}}, "function_call: unknown key 'id'"),
        ({"outputs": []}, "step.outputs: a reply needs at least one output"),
        ({"outputs": {"text": "a"}}, "step.outputs: expected a list of STEPs"),
        ({"outputs": [{"transcribe": "a"}]}, r"outputs\[0\]: a 'transcribe' step cannot be"),
        ({"outputs": [{"outputs": []}]}, r"outputs\[0\]: a 'outputs' step cannot be"),
        (
            {"outputs": [{"text": "a", "stall_after": 1}]},
            r"outputs\[0\]: put stall_after on the reply",
        ),
        ({"transcribe": "a", "stall_after": 1}, "step: unknown key 'stall_after'"),
    ],
)
def test_step_errors_name_the_problem(step: object, message: str) -> None:
    with pytest.raises(StepError, match=message):
        parse_step(step)


def test_rules() -> None:
    given = {"when": {"contains": "hi"}, "reply": {"text": "Hello"}, "times": 2}
    rule = parse_rule(given)
    assert isinstance(rule, Rule)
    assert (rule.contains, rule.tool_output_of, rule.times) == ("hi", None, 2)
    assert rule.answer == Reply((Text("Hello"),))
    assert rule.as_given() is given
    tool = parse_rule({"when": {"tool_output_of": "f"}, "reply": {"text": "ok"}})
    assert (tool.tool_output_of, tool.times) == ("f", None)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ([], "rule: expected an object"),
        ({"reply": {"text": "a"}}, "rule: missing 'when'"),
        ({"when": {"contains": "a"}}, "rule: missing 'reply'"),
        ({"when": {}, "reply": {"text": "a"}}, "rule.when: give 'contains' or 'tool_output_of'"),
        ({"when": {"contains": None}, "reply": {"text": "a"}}, "give 'contains' or"),
        ({"when": {"said": "a"}, "reply": {"text": "a"}}, "rule.when: unknown key 'said'"),
        ({"when": {"contains": 1}, "reply": {"text": "a"}}, "rule.when.contains: expected a str"),
        ({"when": {"tool_output_of": 1}, "reply": {"text": "a"}}, "tool_output_of: expected"),
        ({"when": "a", "reply": {"text": "a"}}, "rule.when: expected an object"),
        ({"when": {"contains": "a"}, "reply": {"text": "a"}, "times": 0}, "times: expected 1"),
        ({"when": {"contains": "a"}, "reply": {"text": "a"}, "times": "1"}, "times: expected a"),
        ({"when": {"contains": "a"}, "reply": {"transcribe": "a"}}, "rule.reply: a rule answers"),
        ({"when": {"contains": "a"}, "reply": {"txt": "a"}}, "rule.reply: expected one kind"),
        ({"when": {"contains": "a"}, "reply": {"text": "a"}, "if": 1}, "rule: unknown key 'if'"),
    ],
)
def test_rule_errors_name_the_problem(rule: object, message: str) -> None:
    with pytest.raises(StepError, match=message):
        parse_rule(rule)


def test_documents() -> None:
    steps, rules = parse_document([{"text": "a"}, {"transcribe": "b"}])
    assert len(steps) == 2 and rules == []
    steps, rules = parse_document(
        {"script": [{"text": "a"}], "rules": [{"when": {"contains": "x"}, "reply": {"text": "y"}}]}
    )
    assert len(steps) == 1 and len(rules) == 1
    assert parse_document({"rules": []}) == ([], [])
    with pytest.raises(StepError, match=r"script\[1\]: expected one kind"):
        parse_document([{"text": "a"}, {}])
    with pytest.raises(StepError, match=r"rules\[0\]: missing 'reply'"):
        parse_document({"rules": [{"when": {"contains": "x"}}]})
    with pytest.raises(StepError, match="unknown key 'steps': a script is a JSON list"):
        parse_document({"steps": []})
    with pytest.raises(StepError, match="not a string"):
        parse_document("[]")
    with pytest.raises(StepError, match="script: expected a list of STEPs"):
        parse_document({"script": {}})
