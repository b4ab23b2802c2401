"""The real sessions in ``shared/recordings`` beside the repository (not shipped with it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RECORDINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "recordings"


def recording(name: str) -> list[dict[str, Any]]:
    """The lines of one recording; skips the test when the recordings are not there."""
    path = RECORDINGS / name
    if not path.is_file():
        pytest.skip(
            f"needs the real recording {name} from {RECORDINGS} (the shared/ directory beside "
            "the repository, not part of it)"
        )
    return [json.loads(line) for line in path.read_text().splitlines()]
