"""@realtime.tool: JSON schema from the signature and the docstring."""

from __future__ import annotations

from typing import Literal

import pytest

import realtime


def test_schema_from_signature_and_docstring() -> None:
    @realtime.tool
    def weather(city: str, unit: Literal["c", "f"] = "c", days: list[int] | None = None) -> str:
        """Look up the weather.

        Args:
            city: The city name.
            unit: Celsius or
                Fahrenheit.
            days: Which days ahead.
        """
        return city

    assert weather.schema() == {
        "type": "function",
        "name": "weather",
        "description": "Look up the weather.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name."},
                "unit": {"enum": ["c", "f"], "description": "Celsius or Fahrenheit."},
                "days": {
                    "type": ["array", "null"],
                    "items": {"type": "integer"},
                    "description": "Which days ahead.",
                },
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    assert weather("Paris") == "Paris"


def test_name_and_description_override() -> None:
    @realtime.tool(name="lookup", description="Custom.")
    async def f(x: float, flag: bool) -> None:
        """Ignored."""

    assert f.name == "lookup" and f.description == "Custom."
    assert f.parameters["properties"] == {"x": {"type": "number"}, "flag": {"type": "boolean"}}


def test_varargs_are_refused() -> None:
    def f(*args: int) -> None:
        pass

    with pytest.raises(TypeError, match="args"):
        realtime.tool(f)


async def test_call_runs_sync_and_async_functions() -> None:
    @realtime.tool
    def double(x: int) -> int:
        """Double."""
        return 2 * x

    @realtime.tool
    async def triple(x: int) -> int:
        """Triple."""
        return 3 * x

    assert await double.call({"x": 2}) == 4
    assert await triple.call({"x": 2}) == 6
