"""Generate ``fakes/_client_schema.py``: the fields of every client event, from the SDK's types.

A dev tool, not part of the library: it walks the official ``openai`` package's request types
for the GA Realtime client events (the ``RealtimeClientEventParam`` union of ``TypedDict``s) and
writes, for every object a client may send, which fields it has, which are required, and which
the SDK types as nullable (``Optional``). The fake checks what clients send against that table,
not against a hand-kept list, so a field the SDK lets an app send is never ``unknown_parameter``.

Objects are named by where they appear: ``event:<type>`` for the events themselves, then the
path of fields from there (``session:realtime.audio.input.turn_detection:server_vad``). Where a
field is a union of objects, each member is named by its ``type`` (and ``role``) literals, after
a colon. Lists add nothing to the path.

Run from the repository root with the dev venv::

    python tools/gen_client_schema.py          # write the file
    python tools/gen_client_schema.py --check  # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import collections.abc
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Any

import typing_extensions
from openai.types.realtime import RealtimeClientEventParam

OUT = Path(__file__).resolve().parent.parent / "fakes" / "_client_schema.py"

HEADER = '''"""The fields of every client event, generated from the official ``openai`` package's
request types by ``tools/gen_client_schema.py``: do not edit by hand.

``FIELDS[name][field] = (required, nullable)``; see the tool for how objects are named.
"""

from __future__ import annotations

__all__ = ["FIELDS", "SDK_VERSION"]

# The openai version the table was generated from (older SDKs have fewer fields).
SDK_VERSION = "{version}"

FIELDS: dict[str, dict[str, tuple[bool, bool]]] = {{
'''


def _required(cls: Any, annotation: Any) -> bool:
    # The SDK's modules use ``from __future__ import annotations``, so ``__required_keys__``
    # does not see ``Required[...]``: read it from the evaluated hints.
    origin = typing_extensions.get_origin(annotation)
    if origin is typing_extensions.Required:
        return True
    if origin is typing_extensions.NotRequired:
        return False
    return bool(getattr(cls, "__total__", True))


def _is_typeddict(tp: Any) -> bool:
    return typing_extensions.is_typeddict(tp)


def _strip(tp: Any) -> tuple[Any, bool]:
    """Unwrap Required/NotRequired/Annotated; return the type and whether it allows None."""
    nullable = False
    while True:
        origin = typing_extensions.get_origin(tp)
        if origin in (typing_extensions.Required, typing_extensions.NotRequired) or origin in (
            typing.Annotated,
            typing_extensions.Annotated,
        ):
            tp = typing_extensions.get_args(tp)[0]
            continue
        break
    if typing_extensions.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing_extensions.get_args(tp) if a is not type(None)]
        nullable = len(members) != len(typing_extensions.get_args(tp))
        tp = typing.Union[tuple(members)] if len(members) > 1 else members[0]  # noqa: UP007
    return tp, nullable


def _objects(tp: Any) -> list[Any]:
    """The TypedDicts a field's value may be (through unions, lists and aliases)."""
    tp, _ = _strip(tp)
    if _is_typeddict(tp):
        return [tp]
    origin = typing_extensions.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for member in typing_extensions.get_args(tp):
            found += [o for o in _objects(member) if o not in found]
        return found
    if origin in (
        list,
        collections.abc.Iterable,
        collections.abc.Sequence,
        typing.Iterable,
        typing.List,  # noqa: UP006
    ):
        return _objects(typing_extensions.get_args(tp)[0])
    if origin is not None and getattr(origin, "__name__", "") == "SequenceNotStr":
        return _objects(typing_extensions.get_args(tp)[0])
    return []


def _literal(cls: Any, field: str) -> str | None:
    hints = typing_extensions.get_type_hints(cls)
    if field not in hints:
        return None
    tp, _ = _strip(hints[field])
    if typing_extensions.get_origin(tp) is typing_extensions.Literal:
        values = typing_extensions.get_args(tp)
        return "|".join(str(v) for v in values)
    return None


def _variant(cls: Any) -> str:
    parts = [p for p in (_literal(cls, "type"), _literal(cls, "role")) if p is not None]
    return "/".join(parts)


def _walk(cls: Any, name: str, table: dict[str, dict[str, tuple[bool, bool]]]) -> None:
    hints = typing_extensions.get_type_hints(cls, include_extras=True)
    fields: dict[str, tuple[bool, bool]] = {}
    for field, annotation in sorted(hints.items()):
        _, nullable = _strip(annotation)
        fields[field] = (_required(cls, annotation), nullable)
    if name in table and table[name] != fields:
        raise SystemExit(f"two different objects named {name}: refine the naming")
    table[name] = fields
    for field, annotation in sorted(hints.items()):
        objects = _objects(annotation)
        if len(objects) == 1:
            _walk(objects[0], f"{name}.{field}", table)
        else:
            for member in objects:
                _walk(member, f"{name}.{field}:{_variant(member)}", table)


def build() -> dict[str, dict[str, tuple[bool, bool]]]:
    table: dict[str, dict[str, tuple[bool, bool]]] = {}
    for event in typing_extensions.get_args(RealtimeClientEventParam):
        event_type = _literal(event, "type")
        hints = typing_extensions.get_type_hints(event, include_extras=True)
        table[f"event:{event_type}"] = {
            field: (_required(event, annotation), _strip(annotation)[1])
            for field, annotation in sorted(hints.items())
        }
        for field, annotation in sorted(hints.items()):
            objects = _objects(annotation)
            if len(objects) == 1:
                _walk(objects[0], field, table)
            else:
                for member in objects:
                    _walk(member, f"{field}:{_variant(member)}", table)
    return table


def render(table: dict[str, dict[str, tuple[bool, bool]]]) -> str:
    import openai

    lines = [HEADER.format(version=openai.__version__)]
    for name in sorted(table):
        lines.append(f"    {name!r}: {{\n")
        for field, (required, nullable) in table[name].items():
            lines.append(f"        {field!r}: ({required}, {nullable}),\n")
        lines.append("    },\n")
    lines.append("}\n")
    text = "".join(lines).replace("'", '"')
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(OUT), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python tools/gen_client_schema.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
