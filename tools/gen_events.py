"""Generate ``realtime/events/_server.py`` and ``realtime/events/_types.py``.

A dev tool, not part of the library: it introspects the official ``openai`` package's pydantic
models for the GA Realtime server events (the ``openai.types.realtime.RealtimeServerEvent``
union) and writes

* ``_types.py``: one ``TypedDict`` per nested pydantic model (items, responses, sessions, ...), so
  that the raw dicts the event views hand out are typed for mypy;
* ``_server.py``: one lazy-view class per server event, the ``ServerEvent`` union and the
  ``EVENT_TYPES`` table.

Run from the repository root with the dev venv::

    python tools/gen_events.py          # write the files, then ruff-format them
    python tools/gen_events.py --check  # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import keyword
import re
import subprocess
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import openai
import openai.types.realtime as rt
import pydantic

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "realtime" / "events"

# The 46 GA server event types of the protocol notes' catalogue. The generator refuses to run
# if the installed openai package disagrees, so a silent SDK change cannot drop or add classes.
EXPECTED_TYPES = frozenset(
    {
        "conversation.created",
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.deleted",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.segment",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "error",
        "input_audio_buffer.cleared",
        "input_audio_buffer.committed",
        "input_audio_buffer.dtmf_event_received",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "mcp_list_tools.in_progress",
        "output_audio_buffer.cleared",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "rate_limits.updated",
        "response.content_part.added",
        "response.content_part.done",
        "response.created",
        "response.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_text.delta",
        "response.output_text.done",
        "session.created",
        "session.updated",
    }
)

# TypedDict names that would be confusing in this library: ``RealtimeError`` is already the
# base exception class of ``realtime``.
RENAMES = {"RealtimeError": "ErrorDetails"}

# The only event the API defines without an ``event_id``; it gets an optional one for uniformity.
NO_EVENT_ID = "input_audio_buffer.dtmf_event_received"

# Names for the unions of models that the SDK leaves unnamed.
EXTRA_ALIASES = {
    ("RealtimeSessionCreateRequest", "RealtimeTranscriptionSessionCreateRequest"): "SessionConfig",
    ("UsageTranscriptTextUsageTokens", "UsageTranscriptTextUsageDuration"): "TranscriptionUsage",
}

Model = type[pydantic.BaseModel]


def class_name(wire_type: str) -> str:
    """``response.output_text.delta`` -> ``ResponseOutputTextDeltaEvent``."""
    parts = re.split(r"[._]", wire_type)
    return "".join(p[:1].upper() + p[1:] for p in parts) + "Event"


def camel(snake: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


def strip_annotated(ann: Any) -> Any:
    while get_origin(ann) is typing.Annotated:
        ann = get_args(ann)[0]
    return ann


def is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, pydantic.BaseModel)


def is_union(ann: Any) -> bool:
    return get_origin(ann) in (Union, types.UnionType)


def server_event_models() -> dict[str, Model]:
    union = strip_annotated(rt.RealtimeServerEvent)
    models: dict[str, Model] = {}
    for member in get_args(union):
        member = strip_annotated(member)
        (wire_type,) = get_args(member.model_fields["type"].annotation)
        models[wire_type] = member
    if set(models) != EXPECTED_TYPES or len(models) != 46:
        missing = EXPECTED_TYPES - set(models)
        extra = set(models) - EXPECTED_TYPES
        sys.exit(f"openai {openai.__version__}: RealtimeServerEvent differs: {missing=} {extra=}")
    return dict(sorted(models.items()))


def wire_key(name: str, field: Any) -> str:
    alias = field.alias
    return alias if isinstance(alias, str) else name


def attribute_docs(model: Model) -> dict[str, str]:
    """Attribute docstrings (the string literal under each field) from the model's source."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    (cls,) = ast.parse(source).body
    assert isinstance(cls, ast.ClassDef)
    docs: dict[str, str] = {}
    body = cls.body
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def model_doc(model: Model) -> str:
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def docstring(text: str, indent: str, width: int = 100) -> str:
    """Format ``text`` as a triple-quoted docstring block at ``indent``."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    for fancy, plain in UNICODE_PUNCTUATION.items():
        text = text.replace(fancy, plain)
    if not text:
        return ""
    # Bullet items become paragraphs of their own, so that wrapping does not merge them.
    text = re.sub(r"\n\s*- ", "\n\n- ", text)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    lines: list[str] = []
    for i, para in enumerate(paragraphs):
        if i:
            lines.append("")
        wrapped = textwrap.wrap(
            " ".join(para.split()),
            width=width - len(indent) - 6,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.extend(wrapped)
    if text.endswith('"'):
        lines[-1] += " "
    if len(lines) == 1:
        return f'{indent}"""{lines[0]}"""\n'
    body = "\n".join(f"{indent}{line}" if line else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}\n{indent}"""\n'


# Characters that ruff flags as ambiguous (RUF001-3) in the SDK's docstrings.
UNICODE_PUNCTUATION = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u00a0": " ",
}


def first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


class TypedDictRegistry:
    """Collects the nested pydantic models and renders annotations that refer to them."""

    def __init__(self, roots: list[Model]) -> None:
        self.models: list[Model] = []
        seen: set[Model] = set()
        for root in roots:
            for field in root.model_fields.values():
                for model in self._models_in(field.annotation):
                    self._walk(model, seen)
        self.names = self._assign_names()
        self.aliases = self._known_union_aliases()
        self.used_aliases: dict[str, str] = {}

    def _models_in(self, ann: Any) -> Iterator[Model]:
        ann = strip_annotated(ann)
        if is_model(ann):
            yield ann
            return
        for arg in get_args(ann):
            if not isinstance(arg, (str, int, float, bool)) and arg is not None:
                yield from self._models_in(arg)

    def _walk(self, model: Model, seen: set[Model]) -> None:
        # Post-order, so a TypedDict is always defined after the ones it refers to.
        if model in seen:
            return
        seen.add(model)
        for field in model.model_fields.values():
            for sub in self._models_in(field.annotation):
                self._walk(sub, seen)
        self.models.append(model)

    def _signature(self, model: Model) -> tuple[Any, ...]:
        return tuple(
            (name, str(f.annotation), f.is_required()) for name, f in model.model_fields.items()
        )

    def _assign_names(self) -> dict[Model, str]:
        by_name: dict[str, list[Model]] = {}
        for model in self.models:
            by_name.setdefault(RENAMES.get(model.__name__, model.__name__), []).append(model)
        names: dict[Model, str] = {}
        for name, group in by_name.items():
            if len({self._signature(m) for m in group}) == 1:
                # Structurally identical copies (e.g. the two ``Part`` models) share one name.
                for model in group:
                    names[model] = name
            else:
                for model in group:
                    module = model.__module__.rsplit(".", 1)[-1]
                    names[model] = camel(module) + name
        for name in set(names.values()):
            if len({self._signature(m) for m in names if names[m] == name}) != 1:
                sys.exit(f"TypedDict name collision on {name}; extend RENAMES")
        return names

    def _known_union_aliases(self) -> dict[frozenset[Model], str]:
        # Reuse the SDK's names for unions of models, e.g. ``ConversationItem``.
        aliases: dict[frozenset[Model], str] = {}
        for name, value in sorted(vars(rt).items()):
            value = strip_annotated(value)
            if not is_union(value):
                continue
            members = [strip_annotated(a) for a in get_args(value)]
            if len(members) > 1 and all(is_model(m) for m in members):
                aliases.setdefault(frozenset(members), name)
        by_name = {m.__name__: m for m in self.models}
        for names, alias in EXTRA_ALIASES.items():
            aliases[frozenset(by_name[n] for n in names)] = alias
        return aliases

    def render(self, ann: Any) -> str:
        ann = strip_annotated(ann)
        if ann is type(None) or ann is None:
            return "None"
        if ann in (str, int, float, bool):
            return str(ann.__name__)
        if ann is object:
            return "object"
        if ann is Any:
            return "Any"
        if is_model(ann):
            return self.names[ann]
        origin = get_origin(ann)
        args = get_args(ann)
        if origin is Literal:
            return "Literal[" + ", ".join(_literal(a) for a in args) + "]"
        if origin in (list, typing.List):  # noqa: UP006
            return f"list[{self.render(args[0])}]"
        if origin in (dict, typing.Dict):  # noqa: UP006
            return f"dict[{self.render(args[0])}, {self.render(args[1])}]"
        if is_union(ann):
            members = list(_flatten_union(ann))
            non_none = [m for m in members if m is not type(None)]
            has_none = len(non_none) != len(members)
            key = frozenset(non_none)
            if len(non_none) > 1 and key in self.aliases and all(is_model(m) for m in non_none):
                alias = self.aliases[key]
                self.used_aliases[alias] = " | ".join(self.names[m] for m in non_none)
                rendered = [alias]
            else:
                rendered = []
                for member in non_none:
                    text = self.render(member)
                    if text not in rendered:
                        rendered.append(text)
            if has_none:
                rendered.append("None")
            return " | ".join(rendered)
        raise SystemExit(f"cannot render annotation {ann!r}")

    def optional(self, ann: Any) -> str:
        text = self.render(ann)
        return text if text == "None" or text.endswith("| None") else f"{text} | None"


def _flatten_union(ann: Any) -> Iterator[Any]:
    for arg in get_args(ann):
        arg = strip_annotated(arg)
        if is_union(arg):
            yield from _flatten_union(arg)
        else:
            yield arg


def _literal(value: Any) -> str:
    return (
        '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, str)
        else repr(value)
    )


HEADER = (
    "# Generated by tools/gen_events.py from openai {version}; do not edit by hand.\n"
    "# Regenerate with: python tools/gen_events.py\n"
)


def gen_types(reg: TypedDictRegistry) -> str:
    out: list[str] = [
        HEADER.format(version=openai.__version__),
        '"""TypedDicts for the nested objects of server events (items, responses, sessions...).\n\n'
        "They describe the raw JSON dicts that the event views return; nothing checks them at\n"
        "runtime. Keys that the official SDK's models require are required keys; the others may\n"
        'be absent.\n"""\n\n',
        "from __future__ import annotations\n\n",
        "from typing import Literal, TypedDict\n\n",
    ]
    emitted: set[str] = set()
    names: list[str] = []
    for model in reg.models:
        name = reg.names[model]
        if name in emitted:
            continue
        emitted.add(name)
        names.append(name)
        required: list[str] = []
        optional: list[str] = []
        for field_name, field in model.model_fields.items():
            key = wire_key(field_name, field)
            if not key.isidentifier() or keyword.iskeyword(key):
                raise SystemExit(f"{model.__name__}.{key}: not an identifier; add functional form")
            line = f"    {key}: {reg.render(field.annotation)}\n"
            (required if field.is_required() else optional).append(line)
        doc = model_doc(model) or f"The ``{model.__name__}`` object of the Realtime API."
        doc = docstring(first_sentence(doc) if len(doc) > 400 else doc, "    ")
        if required and optional:
            out.append(f"\n\nclass _{name}Required(TypedDict):\n")
            out.extend(required)
            out.append(f"\n\nclass {name}(_{name}Required, total=False):\n{doc}\n")
            out.extend(optional)
        elif required:
            out.append(f"\n\nclass {name}(TypedDict):\n{doc}\n")
            out.extend(required)
        else:
            out.append(f"\n\nclass {name}(TypedDict, total=False):\n{doc}\n")
            out.extend(optional or ["    pass\n"])
    out.append("\n\n")
    for alias, value in sorted(reg.used_aliases.items()):
        out.append(f"{alias} = {value}\n")
        names.append(alias)
    all_names = sorted(names)
    out.append("\n__all__ = [\n" + "".join(f'    "{n}",\n' for n in all_names) + "]\n")
    return "".join(out)


def gen_server(models: dict[str, Model], reg: TypedDictRegistry) -> str:
    classes: list[str] = []
    typed_names: set[str] = set()
    for wire_type, model in models.items():
        name = class_name(wire_type)
        fields = {k: f for k, f in model.model_fields.items() if k != "type"}
        docs = attribute_docs(model)
        required = sorted(wire_key(k, f) for k, f in model.model_fields.items() if f.is_required())
        doc = model_doc(model) or f"The ``{wire_type}`` server event."
        lines = [
            f"\n\nclass {name}(ServerEventBase):\n",
            docstring(f"``{wire_type}``: {doc}", "    "),
            "\n",
            "    __slots__ = ()\n",
            f'    type: ClassVar[Literal["{wire_type}"]] = "{wire_type}"\n',
            "    _required: ClassVar[frozenset[str]] = frozenset(\n",
            "        {" + ", ".join(f'"{k}"' for k in required) + "}\n",
            "    )\n",
            "    __match_args__ = ("
            + ", ".join(f'"{wire_key(k, f)}"' for k, f in fields.items())
            + ("," if len(fields) == 1 else "")
            + ")\n",
        ]
        props = [
            (wire_key(k, f), f.is_required(), f.annotation, docs.get(k, ""))
            for k, f in fields.items()
        ]
        if wire_type == NO_EVENT_ID:
            props.append(
                (
                    "event_id",
                    False,
                    str,
                    "The API defines no ``event_id`` for this event, "
                    "so this is ``None`` unless the server sends one anyway. It exists so that "
                    "``event.event_id`` type-checks on every server event.",
                )
            )
        for key, is_required, ann, fdoc in props:
            if key in {"raw", "to_dict", "type", "_raw", "_required"}:
                raise SystemExit(f"{wire_type}: field {key!r} clashes with the base class")
            if is_required:
                rtype = reg.render(ann)
                getter = f'self._raw["{key}"]'
            else:
                rtype = reg.optional(ann)
                getter = f'self._raw.get("{key}")'
            typed_names.update(re.findall(r"\b[A-Z]\w*", rtype))
            fdoc = fdoc or f"The ``{key}`` field."
            if not is_required and "absent" not in fdoc:
                fdoc = fdoc.rstrip() + "\n\n``None`` when absent."
            lines += [
                "\n    @property\n",
                f"    def {key}(self) -> {rtype}:\n",
                docstring(fdoc, "        "),
                # Binding to an annotated local turns the raw ``Any`` into the declared type
                # without a ``cast()`` call (which would cost a function call per access).
                f"        v: {rtype} = {getter}\n",
                "        return v\n",
            ]
        classes.append("".join(lines))

    names = [class_name(t) for t in models]
    imported = sorted(n for n in typed_names if n not in {"Literal", "None", "ClassVar"})
    out = [
        HEADER.format(version=openai.__version__),
        '"""One lazy-view class per GA Realtime server event.\n\n'
        "Each class wraps the ``json.loads``-ed dict without copying it; properties read the dict\n"
        "on access. See :class:`realtime.events.ServerEventBase` for the shared behaviour.\n"
        '"""\n\n',
        "from __future__ import annotations\n\n",
        "from typing import ClassVar, Literal\n\n",
        "from ._base import ServerEventBase\n",
    ]
    if imported:
        out.append("from ._types import (\n" + "".join(f"    {n},\n" for n in imported) + ")\n")
    out.extend(classes)
    out.append(
        "\n\n# A PEP 604 union, so that ``match`` with ``assert_never`` is exhaustive for mypy.\n"
        "ServerEvent = (\n    " + "\n    | ".join(names) + "\n)\n"
    )
    out.append('"""Any of the GA server events."""\n')
    out.append(
        "\nEVENT_TYPES: dict[str, type[ServerEventBase]] = {\n"
        "    cls.type: cls\n"
        "    for cls in (\n" + "".join(f"        {c},\n" for c in names) + "    )\n"
        "}\n"
        '"""Maps each wire ``type`` to its event class."""\n'
    )
    out.append(
        "\n__all__ = [\n"
        + "".join(f'    "{n}",\n' for n in sorted([*names, "EVENT_TYPES", "ServerEvent"]))
        + "]\n"
    )
    text = "".join(out)
    return text


def ruff_format(path: Path) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "format", "--quiet", str(path)], check=True, cwd=ROOT)
    subprocess.run([*ruff, "check", "--fix", "--quiet", str(path)], check=True, cwd=ROOT)
    subprocess.run([*ruff, "format", "--quiet", str(path)], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args()
    models = server_event_models()
    reg = TypedDictRegistry(list(models.values()))
    server = gen_server(models, reg)
    types_src = gen_types(reg)  # after gen_server: it records which union aliases were used
    outputs = {OUT_DIR / "_types.py": types_src, OUT_DIR / "_server.py": server}
    stale = False
    for path, text in outputs.items():
        target = path if not args.check else path.with_suffix(".py.gen")
        target.write_text(text)
        ruff_format(target) if target.suffix == ".py" else _format_copy(target)
        if args.check:
            fresh = target.read_text()
            target.unlink()
            if fresh != path.read_text():
                print(f"stale: {path.relative_to(ROOT)}")
                stale = True
        else:
            print(f"wrote {path.relative_to(ROOT)}")
    sys.exit(1 if stale else 0)


def _format_copy(path: Path) -> None:
    # ruff only formats ``.py`` files, so format a temporary sibling copy.
    tmp = path.with_name("_gen_check_tmp.py")
    tmp.write_text(path.read_text())
    ruff_format(tmp)
    path.write_text(tmp.read_text())
    tmp.unlink()


if __name__ == "__main__":
    main()
