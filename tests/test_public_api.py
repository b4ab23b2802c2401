"""The public surface: what is exported, and what importing the core pulls in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import realtime
import realtime.events
import realtime.transports

ROOT = Path(__file__).resolve().parent.parent


def public_names(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("realtime")
    }


def test_all_is_what_is_exported() -> None:
    for module in (realtime, realtime.transports):
        exported = set(module.__all__)
        assert len(exported) == len(module.__all__), "duplicates in __all__"
        for name in exported:
            assert getattr(module, name) is not None
        # Every public class or function defined by the library is in __all__.
        assert public_names(module) <= exported | {"events", "transports"}


def test_seed_names_are_importable() -> None:
    for name in [
        "connect",
        "Connection",
        "ConnectionState",
        "ModelConfig",
        "TextFrame",
        "BinaryFrame",
        "PingFrame",
        "PongFrame",
        "RealtimeError",
        "ConnError",
        "FrameEncodeError",
        "InvalidFrameError",
        "NotConnectedError",
    ]:
        assert name in realtime.__all__
    for error in ("ConnError", "FrameEncodeError", "InvalidFrameError", "NotConnectedError"):
        assert issubclass(getattr(realtime, error), realtime.RealtimeError)
    assert [s.name for s in realtime.ConnectionState] == ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]


def test_importing_the_core_does_not_import_httpx() -> None:
    code = (
        "import realtime, realtime.transports, sys; "
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('httpx', 'httpx_ws', 'wsproto')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_library_code_imports_no_backend() -> None:
    allowed = {
        "realtime/transports/_websockets.py": {"asyncio"},  # the asyncio-only optional transport
        # Detached tasks for the bare ``await connect()`` form: anyio cannot spawn them.
        "realtime/connection/_detached.py": {"asyncio", "trio"},
    }
    for path in [*ROOT.glob("realtime/**/*.py"), *ROOT.glob("fakes/**/*.py")]:
        relative = path.relative_to(ROOT).as_posix()
        banned = {"asyncio", "trio"} - allowed.get(relative, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] in banned for n in names), relative


def test_core_never_imports_a_concrete_transport() -> None:
    # Only connection/_connect's default-transport hook may name one, and only lazily.
    for path in ROOT.glob("realtime/**/*.py"):
        if "transports" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "_httpx_ws" not in node.module and "_websockets" not in node.module
                assert not node.module.startswith(("httpx", "wsproto", "websockets"))
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("httpx", "wsproto")) for a in node.names)


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "realtime" / "py.typed").exists()
    assert (ROOT / "fakes" / "py.typed").exists()
