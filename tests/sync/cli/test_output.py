"""Printing: tables fit the terminal, CSV is one table, JSON keeps exact money."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from sync.cli.output import render, render_sections

ROWS = [
    {"crm": "salesforce", "read": 1200, "upserted": 1200, "object": "Opportunity",
     "quarantine_reasons": {"amount": 2}, "seconds": 3.14},
    {"crm": "hubspot", "read": 10, "upserted": 9, "object": "deals", "quarantine_reasons": {},
     "seconds": 0.5},
]  # fmt: skip


def test_a_narrow_terminal_drops_optional_columns_and_says_so() -> None:
    """Columns named optional go first, least useful first, until the table fits."""
    text = render(ROWS, "table", title="pull", optional=("object", "quarantine_reasons"), width=44)
    lines = text.splitlines()
    assert all(len(line) <= 44 for line in lines)
    assert "Opportunity" not in text
    assert "salesforce" in text
    assert lines[-2].startswith("(hidden to fit: object, quarantine_reasons;")
    wide = render(ROWS, "table", title="pull", optional=("object",), width=200)
    assert "Opportunity" in wide
    assert "hidden" not in wide


def test_sections_make_one_csv_table() -> None:
    """Several listings in CSV are one table: their columns, then which listing a row is."""
    text = render_sections([("pull", ROWS), ("push", [{"crm": "salesforce", "sent": 3}])])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["crm", "read", "upserted", "object", "quarantine_reasons",
                             "seconds", "sent", "table"]  # fmt: skip
    assert [r["table"] for r in rows] == ["pull", "pull", "push"]
    assert rows[2]["read"] == ""


def test_json_keeps_money_exact_and_figures_as_numbers() -> None:
    document = json.loads(render([{"amount": Decimal("10.10"), "seconds": 0.25}], "json"))
    assert document == {"amount": "10.10", "seconds": 0.25}
