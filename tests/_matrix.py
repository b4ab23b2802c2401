"""The fault matrix's results, collected by ``test_fault_matrix`` and printed by the terminal
summary in ``conftest.py`` (so the table shows with or without ``-s``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MatrixRow:
    fault: str
    final_state: str
    events: str
    # Per run (transport/backend): delivered, handed back, refused, sent-but-lost.
    runs: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


ROWS: dict[str, MatrixRow] = {}


def record(
    fault: str, run: str, final_state: str, events: str, counts: tuple[int, int, int, int]
) -> None:
    row = ROWS.setdefault(fault, MatrixRow(fault, final_state, events))
    row.runs[run] = counts


def render() -> list[str]:
    """The matrix as Markdown table lines (counts: min-max over the runs)."""
    lines = [
        "| fault | final state | connection events seen by listeners | runs "
        "| delivered | handed back | refused | sent but lost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS.values():
        cells = []
        for i in range(4):
            values = [counts[i] for counts in row.runs.values()]
            low, high = min(values), max(values)
            cells.append(str(low) if low == high else f"{low}-{high}")
        lines.append(
            f"| {row.fault} | {row.final_state} | {row.events} | {len(row.runs)} | "
            + " | ".join(cells)
            + " |"
        )
    return lines
