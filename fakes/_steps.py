"""STEP: the one JSON format of scripted steps, for ``--script`` files and the HTTP control plane.

A STEP is one of::

    {"text": "..."}
    {"audio_base64": "<base64 of pcm in the session's output format>", "transcript"?: "..."}
    {"audio_wav": "reply.wav", "transcript"?: "..."}            (script files only)
    {"function_call": {"name": "...", "arguments": {...} | "<JSON>", "call_id"?: "..."}}
    {"mcp_call": {"server_label": "...", "name": "...", "arguments": {...} | "<JSON>",
                  "output"?: "...", "error"?: "..." | {...}}}     (a remote MCP tool call)
    {"outputs": [STEP, ...]}                                      (several outputs, one response)
    {"transcribe": "..."}                                         (the next input transcript)

and any reply (all but ``transcribe``) may add ``"stall_after": n``. A rule is
``{"when": {"contains": "..."} | {"tool_output_of": "..."}, "reply": STEP, "times"?: n}``.

Every problem raises :class:`StepError` naming where it is (``script[2].function_call.name``)
and what is wrong, so a file or an HTTP body that is off says how to fix it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._script import Audio, FunctionCall, McpCall, Output, Reply, Rule, Text, Transcript

__all__ = ["STEP_HELP", "StepError", "parse_document", "parse_rule", "parse_step"]

STEP_HELP = (
    'a STEP is {"text": str}, {"audio_base64": str, "transcript"?: str}, '
    '{"function_call": {"name": str, "arguments": object | str, "call_id"?: str}}, '
    '{"mcp_call": {"server_label": str, "name": str, "arguments": object | str, '
    '"output"?: str, "error"?: str | object}}, '
    '{"outputs": [STEP, ...]} or {"transcribe": str}; a reply may add "stall_after": int'
)

WavReader = Callable[[Path], bytes]

_KINDS = (
    "text",
    "audio_base64",
    "audio_wav",
    "function_call",
    "mcp_call",
    "outputs",
    "transcribe",
)


class StepError(ValueError):
    """A STEP, rule or script that is not valid; the message says where and why."""


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object", type(None): "null"})
    return names.get(type(value), type(value).__name__)


def _expect(value: object, kind: type | tuple[type, ...], what: str, where: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise StepError(f"{where}: expected {what}, got {_type_name(value)}")
    return value


def _check_keys(given: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise StepError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _stall_after(step: dict[str, Any], where: str) -> int | None:
    if "stall_after" not in step or step["stall_after"] is None:
        return None
    value = _expect(step["stall_after"], int, "a whole number of deltas", f"{where}.stall_after")
    if value < 0:
        raise StepError(f"{where}.stall_after: expected 0 or more, got {value}")
    return int(value)


def _kind(given: dict[str, Any], where: str) -> str:
    kinds = [k for k in _KINDS if k in given]
    if len(kinds) != 1:
        found = "none" if not kinds else " and ".join(repr(k) for k in kinds)
        raise StepError(f"{where}: expected one kind of step, found {found}; {STEP_HELP}")
    return kinds[0]


def _output(step: object, where: str, read_wav: WavReader | None, base: Path | None) -> Output:
    """One output STEP (text, audio or function call) without ``stall_after``."""
    given = _expect(step, dict, "an object (a STEP)", where)
    kind = _kind(given, where)
    if kind == "text":
        _check_keys(given, {"text", "stall_after"}, where)
        return Text(_expect(given["text"], str, "a string", f"{where}.text"))
    if kind in ("audio_base64", "audio_wav"):
        _check_keys(given, {kind, "transcript", "stall_after"}, where)
        transcript = _expect(given.get("transcript", ""), str, "a string", f"{where}.transcript")
        source = _expect(given[kind], str, "a string", f"{where}.{kind}")
        if kind == "audio_base64":
            try:
                pcm = base64.b64decode(source, validate=True)
            except (binascii.Error, ValueError):
                raise StepError(f"{where}.audio_base64: not valid base64") from None
        else:
            if read_wav is None:
                raise StepError(
                    f"{where}.audio_wav: only script files may name a WAV file; "
                    "send the audio as audio_base64"
                )
            path = Path(source)
            pcm = read_wav(path if base is None or path.is_absolute() else base / path)
        return Audio(pcm, transcript)
    if kind == "function_call":
        _check_keys(given, {"function_call", "stall_after"}, where)
        where = f"{where}.function_call"
        call = _expect(given["function_call"], dict, "an object", where)
        _check_keys(call, {"name", "arguments", "call_id"}, where)
        if "name" not in call:
            raise StepError(f"{where}: missing 'name'")
        name = _expect(call["name"], str, "a string", f"{where}.name")
        arguments = _expect(
            call.get("arguments", {}),
            (dict, str),
            "an object or a JSON string",
            f"{where}.arguments",
        )
        call_id = call.get("call_id")
        if call_id is not None:
            _expect(call_id, str, "a string", f"{where}.call_id")
        return FunctionCall(name, arguments, call_id)
    if kind == "mcp_call":
        return _mcp_call(given, where)
    raise StepError(f"{where}: a {kind!r} step cannot be one output of a reply")


def _mcp_call(given: dict[str, Any], where: str) -> McpCall:
    _check_keys(given, {"mcp_call", "stall_after"}, where)
    where = f"{where}.mcp_call"
    call = _expect(given["mcp_call"], dict, "an object", where)
    _check_keys(call, {"server_label", "name", "arguments", "output", "error"}, where)
    for key in ("server_label", "name"):
        if key not in call:
            raise StepError(f"{where}: missing {key!r}")
    arguments = _expect(
        call.get("arguments", {}), (dict, str), "an object or a JSON string", f"{where}.arguments"
    )
    output = call.get("output")
    if output is not None:
        _expect(output, str, "a string", f"{where}.output")
    error = call.get("error")
    if error is not None:
        _expect(error, (str, dict), "a string or an error object", f"{where}.error")
    if output is not None and error is not None:
        raise StepError(f"{where}: an MCP call has an output or an error, not both")
    return McpCall(
        _expect(call["server_label"], str, "a string", f"{where}.server_label"),
        _expect(call["name"], str, "a string", f"{where}.name"),
        arguments,
        output=output,
        error=error,
    )


def parse_step(
    step: object,
    where: str = "step",
    *,
    read_wav: WavReader | None = None,
    base: Path | None = None,
) -> Reply | Transcript:
    """Read one STEP.

    Args:
        step: The decoded JSON.
        where: How to name it in error messages.
        read_wav: Reads ``audio_wav`` files (script files only; refused when ``None``).
        base: The directory relative ``audio_wav`` paths are read from.

    Raises:
        StepError: The STEP is not valid.
    """
    given = _expect(step, dict, "an object (a STEP)", where)
    _kind(given, where)
    if "transcribe" in given:
        _check_keys(given, {"transcribe"}, where)
        return Transcript(
            _expect(given["transcribe"], str, "a string", f"{where}.transcribe"), step
        )
    stall = _stall_after(given, where)
    if "outputs" in given:
        _check_keys(given, {"outputs", "stall_after"}, where)
        outputs = _expect(given["outputs"], list, "a list of STEPs", f"{where}.outputs")
        if not outputs:
            raise StepError(f"{where}.outputs: a reply needs at least one output")
        parsed = []
        for i, output in enumerate(outputs):
            inner = f"{where}.outputs[{i}]"
            if isinstance(output, dict) and "stall_after" in output:
                raise StepError(f"{inner}: put stall_after on the reply, not on one output")
            parsed.append(_output(output, inner, read_wav, base))
        return Reply(tuple(parsed), stall, step)
    return Reply((_output(given, where, read_wav, base),), stall, step)


def parse_rule(
    rule: object,
    where: str = "rule",
    *,
    read_wav: WavReader | None = None,
    base: Path | None = None,
) -> Rule:
    """Read one rule: ``{"when": {...}, "reply": STEP, "times"?: n}``.

    Raises:
        StepError: The rule is not valid.
    """
    given = _expect(rule, dict, 'an object {"when": ..., "reply": STEP}', where)
    _check_keys(given, {"when", "reply", "times"}, where)
    for key in ("when", "reply"):
        if key not in given:
            raise StepError(f"{where}: missing {key!r}")
    when = _expect(given["when"], dict, "an object", f"{where}.when")
    _check_keys(when, {"contains", "tool_output_of"}, f"{where}.when")
    if not when:
        raise StepError(f"{where}.when: give 'contains' or 'tool_output_of'")
    contains = when.get("contains")
    if contains is not None:
        _expect(contains, str, "a string", f"{where}.when.contains")
    tool = when.get("tool_output_of")
    if tool is not None:
        _expect(tool, str, "a string (a function name)", f"{where}.when.tool_output_of")
    if contains is None and tool is None:
        raise StepError(f"{where}.when: give 'contains' or 'tool_output_of'")
    times = given.get("times")
    if times is not None:
        _expect(times, int, "a whole number", f"{where}.times")
        if times < 1:
            raise StepError(f"{where}.times: expected 1 or more, got {times}")
    reply = parse_step(given["reply"], f"{where}.reply", read_wav=read_wav, base=base)
    if not isinstance(reply, Reply):
        raise StepError(f"{where}.reply: a rule answers with a reply, not a transcript")
    parsed = Rule(contains=contains, tool_output_of=tool, times=times, given=rule)
    parsed.answer = reply
    return parsed


def parse_document(
    data: object,
    *,
    read_wav: WavReader | None = None,
    base: Path | None = None,
) -> tuple[list[Reply | Transcript], list[Rule]]:
    """Read a script: a list of STEPs, or ``{"script": [STEP, ...], "rules": [rule, ...]}``.

    Raises:
        StepError: The script is not valid.
    """
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"script", "rules"})
        if unknown:
            raise StepError(
                f"unknown key {unknown[0]!r}: a script is a JSON list of STEPs, or "
                '{"script": [STEP, ...], "rules": [rule, ...]}'
            )
        steps = _expect(data.get("script", []), list, "a list of STEPs", "script")
        rules = _expect(data.get("rules", []), list, "a list of rules", "rules")
    elif isinstance(data, list):
        steps, rules = data, []
    else:
        raise StepError(
            'a script is a JSON list of STEPs, or {"script": [...], "rules": [...]}, '
            f"not {_type_name(data)}"
        )
    return (
        [parse_step(s, f"script[{i}]", read_wav=read_wav, base=base) for i, s in enumerate(steps)],
        [parse_rule(r, f"rules[{i}]", read_wav=read_wav, base=base) for i, r in enumerate(rules)],
    )
