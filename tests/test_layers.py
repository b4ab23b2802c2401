"""The import contract of pyproject.toml (import-linter): the layers of ``realtime/`` and the
floors of ``fakes/`` hold, with no import cycle, TYPE_CHECKING imports included.

``.ci/run`` runs ``lint-imports`` too; this test makes a plain ``pytest`` refuse a crossing
import as well."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contract_is_kept() -> None:
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(no_cache=True, no_logo=True))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_layout_shows_the_layers() -> None:
    packages = {p.name for p in (ROOT / "realtime").iterdir() if (p / "__init__.py").exists()}
    assert {"protocol", "events", "connection", "transports", "session", "cli"} <= packages
