"""Deterministic ids shaped like the real service's (``event_`` + 21 characters, ...)."""

from __future__ import annotations

import itertools

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _encode(number: int, width: int) -> str:
    # Only the significant digits (a few for any counter), then zero-padded ("0" is digit 0).
    chars = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars)).rjust(width, "0")[-width:]


class IdFactory:
    """Counter-based ids: the same sequence of calls gives the same ids, run after run."""

    def __init__(self, prefix: str = "FAKE") -> None:
        self._prefix = prefix
        self._counters: dict[str, itertools.count[int]] = {}

    def _next(self, kind: str, width: int = 21) -> str:
        counter = self._counters.setdefault(kind, itertools.count(1))
        tail = _encode(next(counter), width - len(self._prefix))
        return f"{kind}_{self._prefix}{tail}"

    def event(self) -> str:
        """A new ``event_...`` id."""
        return self._next("event")

    def session(self) -> str:
        """A new ``sess_...`` id."""
        return self._next("sess")

    def item(self) -> str:
        """A new ``item_...`` id."""
        return self._next("item")

    def response(self) -> str:
        """A new ``resp_...`` id."""
        return self._next("resp")

    def call(self) -> str:
        """A new ``call_...`` id."""
        return self._next("call")

    def conversation(self) -> str:
        """A new ``conv_...`` id."""
        return self._next("conv")

    def segment(self) -> str:
        """A new ``seg_...`` id (diarized transcription segments)."""
        return self._next("seg")
