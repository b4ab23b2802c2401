"""The fake's modules are layered, with no import cycle: every import counts, including those
under ``TYPE_CHECKING`` and inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

FAKES = Path(__file__).resolve().parent.parent / "fakes"

# Lower floors first; a module may import only modules on its floor's left (lower floors).
FLOORS = [
    {"_errors", "_ids", "_clock", "_headers", "_client_schema", "_threaded"},
    {"_session", "_audio"},
    {"_mcp"},  # remote MCP tools: data and checks
    {"_conversation", "_translation"},
    {"_script"},  # steps and rules
    {"_steps"},
    {"_responses"},  # response streaming
    {"_behaviour", "_translating"},  # client event behaviour (realtime, translation)
    {"_serve"},  # the socket listener (knows nothing of the fake)
    {"_replay", "_proxy"},  # the replay server, the recording proxy (through the listener)
    {"_control", "_secrets"},  # the control plane (sees the fake as a protocol), mint endpoints
    {"_server"},  # the server, on top
    {"_cassette"},  # the plugin's cassettes (replay or record)
    {"__init__", "pytest_plugin"},
]


def _imports(module: str) -> set[str]:
    tree = ast.parse((FAKES / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("fakes."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("fakes."))
    return found


def test_every_module_is_on_a_floor() -> None:
    on_floors = set().union(*FLOORS)
    assert {p.stem for p in FAKES.glob("*.py")} == on_floors


def test_no_module_imports_its_floor_or_above() -> None:
    floor_of = {module: i for i, floor in enumerate(FLOORS) for module in floor}
    upward = [
        f"{module} imports {target}"
        for module, floor in floor_of.items()
        for target in sorted(_imports(module))
        if target in floor_of and floor_of[target] >= floor and target != module
    ]
    assert upward == []


def test_the_engine_sees_connections_only_through_protocols() -> None:
    for module in ("_script", "_steps", "_responses", "_behaviour", "_control"):
        assert "_server" not in _imports(module), module
