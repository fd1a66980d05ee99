"""docs/ stays true: the anomaly table in docs/dissectors.md is the catalog in the code."""

from __future__ import annotations

from pathlib import Path

from lisptrace.render import anomaly_catalog_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_anomaly_table_matches_the_catalog() -> None:
    text = (DOCS / "dissectors.md").read_text()
    begin, end = "<!-- anomalies:begin -->\n", "<!-- anomalies:end -->"
    table = text[text.index(begin) + len(begin) : text.index(end)]
    assert table == anomaly_catalog_markdown(), "run: lisptrace anomalies, paste into the docs"


def test_fault_switch_table_matches_the_stack() -> None:
    from lisptrace.stack.config import FAULTS

    text = (DOCS / "stack.md").read_text()
    begin, end = "<!-- faults:begin -->\n", "<!-- faults:end -->"
    table = text[text.index(begin) + len(begin) : text.index(end)]
    rows = ["| role | switch | rule it breaks |", "|---|---|---|"]
    rows += [
        f"| {role} | `{f}` | {rule} |" for role, fs in FAULTS.items() for f, rule in fs.items()
    ]
    assert table == "\n".join(rows) + "\n"
