"""mkdocs hooks: pages made of one ``--8<-- "FILE"`` line show that file of the repository (the
README is the home page), with its repository links turned into site links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_INCLUDE = re.compile(r'\A--8<-- "([^"]+)"\s*\Z')
_LINKS = {
    "](docs/": "](",
    "](BENCHMARKS.md)": "](benchmarks.md)",
    "](RELIABILITY.md)": "](reliability.md)",
    "](CHANGELOG.md)": "](changelog.md)",
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    match = _INCLUDE.match(markdown)
    if match is None:
        return markdown
    markdown = (ROOT / match.group(1)).read_text(encoding="utf-8")
    for old, new in _LINKS.items():
        markdown = markdown.replace(old, new)
    return markdown
