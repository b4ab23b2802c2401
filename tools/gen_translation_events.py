"""Generate ``realtime/events/_translation.py``: the server events of live translation sessions.

A dev tool, not part of the library, built on ``tools/gen_events.py``: it introspects the
official ``openai`` package's ``RealtimeTranslationServerEvent`` union and writes one lazy-view
class per event (``SessionCreated``, ``InputTranscriptDelta``...: named without the
``session.`` prefix of the delta events and without an ``Event`` suffix, as the translation
module is their namespace), the ``TypedDict``s of their nested objects, the
``TranslationServerEvent`` union and the ``TRANSLATION_EVENT_TYPES`` table. The ``error`` event
is the realtime catalogue's ``ErrorEvent``, shared.

Run from the repository root with the dev venv::

    python tools/gen_translation_events.py          # write the file
    python tools/gen_translation_events.py --check  # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import get_args

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_events as ge
import openai
import openai.types.realtime as rt

OUT = ge.OUT_DIR / "_translation.py"

EXPECTED_TYPES = frozenset(
    {
        "session.created",
        "session.updated",
        "session.closed",
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.output_audio.delta",
    }
)


def class_name(wire_type: str) -> str:
    """``session.input_transcript.delta`` -> ``InputTranscriptDelta``; ``session.created`` ->
    ``SessionCreated``."""
    parts = wire_type.split(".")
    if len(parts) > 2 and parts[0] == "session":
        parts = parts[1:]
    words = [w for p in parts for w in re.split(r"_", p)]
    return "".join(w[:1].upper() + w[1:] for w in words)


def translation_event_models() -> dict[str, ge.Model]:
    union = ge.strip_annotated(rt.RealtimeTranslationServerEvent)
    models: dict[str, ge.Model] = {}
    for member in get_args(union):
        member = ge.strip_annotated(member)
        (wire_type,) = get_args(member.model_fields["type"].annotation)
        if wire_type != "error":
            models[wire_type] = member
    if set(models) != EXPECTED_TYPES:
        sys.exit(f"openai {openai.__version__}: RealtimeTranslationServerEvent differs")
    return dict(sorted(models.items()))


def generate() -> str:
    models = translation_event_models()
    ge.EXTRA_ALIASES = {}  # the realtime catalogue's unnamed unions do not occur here
    reg = ge.TypedDictRegistry(list(models.values()))
    # Same shapes as the realtime catalogue's, named by this module: TranslationSession...
    reg.names = {
        m: "Translation" + n.removeprefix("RealtimeTranslation") for m, n in reg.names.items()
    }
    ge.class_name = class_name  # gen_server names classes through the module's function
    server = ge.gen_server(models, reg)
    types_src = ge.gen_types(reg)
    types_body = types_src[types_src.index("\n\nclass ") : types_src.index("\n__all__")]
    classes = server[server.index("\n\nclass ") : server.index("\n\n# A PEP 604 union")]
    names = [class_name(t) for t in models]
    typed = sorted({reg.names[m] for m in reg.models})
    out = [
        ge.HEADER.format(version=openai.__version__).replace(
            "gen_events.py", "gen_translation_events.py"
        ),
        '"""One lazy-view class per server event of live translation sessions, and the\n'
        "``TypedDict``s of their nested objects. The ``error`` event is the shared\n"
        ':class:`realtime.events.ErrorEvent`; see :mod:`realtime.events.translation`.\n"""\n\n',
        "from __future__ import annotations\n\n",
        "from typing import ClassVar, Literal, TypedDict\n\n",
        "from ._base import ServerEventBase\n",
        "from ._server import ErrorEvent\n",
        types_body,
        classes,
        "\n\nTranslationServerEvent = (\n    " + "\n    | ".join([*names, "ErrorEvent"]) + "\n)\n",
        '"""Any server event of a translation session."""\n',
        "\nTRANSLATION_EVENT_TYPES: dict[str, type[ServerEventBase]] = {\n"
        "    cls.type: cls\n"
        "    for cls in (\n"
        + "".join(f"        {c},\n" for c in [*names, "ErrorEvent"])
        + "    )\n"
        "}\n"
        '"""Maps each wire ``type`` of a translation session to its event class."""\n',
        "\n__all__ = [\n"
        + "".join(
            f'    "{n}",\n'
            for n in sorted([*names, *typed, "TRANSLATION_EVENT_TYPES", "TranslationServerEvent"])
        )
        + "]\n",
    ]
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    text = generate()
    target = OUT if not args.check else OUT.with_name("_gen_translation_check.py")
    target.write_text(text)
    ge.ruff_format(target)
    if args.check:
        fresh = target.read_text()
        target.unlink()
        if fresh != OUT.read_text():
            print(f"stale: {OUT.relative_to(ge.ROOT)}")
            sys.exit(1)
    else:
        print(f"wrote {OUT.relative_to(ge.ROOT)}")


if __name__ == "__main__":
    main()
