"""Function tools: ``@realtime.tool`` turns a Python function into a Realtime function tool.

The JSON schema comes from the signature (annotations give the types, defaults make a parameter
optional) and the Google-style docstring (the summary is the tool's description, the ``Args:``
section describes the parameters).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, overload

__all__ = ["Tool", "tool"]


@dataclass(frozen=True)
class Tool:
    """A function the model may call, with its JSON schema.

    Attributes:
        name: The tool's name as the model sees it.
        description: What the tool does (the docstring's summary).
        parameters: The JSON schema of its arguments.
        function: The Python function (sync or async).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]

    def schema(self) -> dict[str, Any]:
        """The tool as a ``session.update`` ``tools`` entry."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    async def call(self, arguments: dict[str, Any]) -> Any:
        """Run the function with ``arguments``; sync functions run in a worker thread.

        Raises:
            Exception: Whatever the function raises.
        """
        if inspect.iscoroutinefunction(self.function):
            return await self.function(**arguments)
        import anyio.to_thread

        # Abandoned on cancel: a timed-out sync tool cannot be interrupted, but the session
        # must not wait for it.
        return await anyio.to_thread.run_sync(
            lambda: self.function(**arguments), abandon_on_cancel=True
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function tool from a plain (sync or async) function.

    Use as ``@realtime.tool`` or ``@realtime.tool(name=..., description=...)``. The result is
    still callable like the function.

    Raises:
        TypeError: A parameter is ``*args``/``**kwargs``, or has an annotation with no JSON
            schema equivalent.
    """

    def build(function: Callable[..., Any]) -> Tool:
        summary, arg_docs = _parse_docstring(inspect.getdoc(function) or "")
        return Tool(
            name=name or function.__name__,
            description=description if description is not None else summary,
            parameters=_parameters_schema(function, arg_docs),
            function=function,
        )

    return build if function is None else build(function)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    sections = re.split(r"\n\s*\n", doc.strip(), maxsplit=1) if doc else [""]
    summary = " ".join(sections[0].split())
    args: dict[str, str] = {}
    match = re.search(r"^Args:\s*\n((?:[ \t]+.*\n?|\s*\n)*)", doc, re.MULTILINE)
    if match:
        current: str | None = None
        for line in match.group(1).splitlines():
            entry = re.match(r"^\s{1,8}(\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
            if entry and (current is None or len(line) - len(line.lstrip()) <= 8):
                current = entry.group(1).lstrip("*")
                args[current] = entry.group(2).strip()
            elif current is not None and line.strip():
                args[current] = (args[current] + " " + line.strip()).strip()
    return summary, args


def _parameters_schema(function: Callable[..., Any], docs: dict[str, str]) -> dict[str, Any]:
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable forward references: fall back to untyped parameters
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {function.__name__}: *args/**kwargs cannot be described")
        schema = _type_schema(hints[param.name]) if param.name in hints else {}
        if param.name in docs:
            schema["description"] = docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        properties[param.name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    dict: {"type": "object"},
    list: {"type": "array"},
    Any: {},
}


def _type_schema(annotation: Any) -> dict[str, Any]:
    if annotation in _SIMPLE:
        return dict(_SIMPLE[annotation])
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and len(args) == 2:
            inner = _type_schema(options[0])
            kind = inner.get("type")
            if isinstance(kind, str):
                inner["type"] = [kind, "null"]
                return inner
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin in (list, tuple, set, frozenset) or origin is typing.Sequence:
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _type_schema(args[0])
        return schema
    if origin is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON schema for annotation {annotation!r}")


def format_output(result: Any) -> str:
    """A tool's return value as the text sent to the model: strings as is, the rest as JSON."""
    if isinstance(result, str):
        return result
    return json.dumps(result, default=str, ensure_ascii=False)
