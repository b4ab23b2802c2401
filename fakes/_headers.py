"""A small case-insensitive, read-only view of handshake headers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers(Mapping[str, str]):
    """Handshake headers; lookups ignore case, repeated names join with ``", "``."""

    def __init__(self, items: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> None:
        self._items = tuple(items)
        folded: dict[str, str] = {}
        for name, value in self._items:
            key = name.lower()
            folded[key] = f"{folded[key]}, {value}" if key in folded else value
        self._folded = folded

    def __getitem__(self, name: str) -> str:
        return self._folded[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._folded)

    def __len__(self) -> int:
        return len(self._folded)

    def raw(self) -> tuple[tuple[str, str], ...]:
        """The headers as received: names in their case, in order, repeats kept."""
        return self._items

    def __repr__(self) -> str:
        # Values are often credentials (Authorization): show names only.
        return f"Headers({sorted(self._folded)!r})"
