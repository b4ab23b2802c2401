"""The examples of docs/client-secrets-mcp-translation.md run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs" / "client-secrets-mcp-translation.md"


def _blocks() -> list[str]:
    text = DOC.read_text()
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_the_documented_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = compile(_blocks()[index], f"{DOC.name}[{index}]", "exec")
    exec(code, {"__name__": "__doc_example__"})
    assert "ek_" not in capsys.readouterr().out.replace("ek_***", "")
