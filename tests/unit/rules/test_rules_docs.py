"""The user's documentation of the import rules (docs/import-rules.md) says what the code does: every reason
code with an example, in the decision's order, every setting with its default, the role addresses."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from mailtrail.cli import app
from mailtrail.crm.workspaces.service import SETTING_KEYS
from mailtrail.rules.addresses import ROLE_LOCAL_PARTS
from mailtrail.rules.types import AddressClass, Reason, Settings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "import-rules.md"
# The order in which the decision checks its skip reasons (the contract's decision table).
SKIP_ORDER = [
    Reason.DRAFT, Reason.SPAM, Reason.TRASH, Reason.NOT_EMAIL, Reason.BLACKLISTED, Reason.INTERNAL,
    Reason.UNKNOWN_SENDER, Reason.UNKNOWN_RECIPIENTS, Reason.NO_CUSTOMER, Reason.DELETED,
]  # fmt: skip


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def _table_rows(section: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header row


def test_every_skip_reason_has_a_step_and_an_example_in_the_decisions_order() -> None:
    rows = _table_rows(_section(DOCS.read_text(encoding="utf-8"), "The decision, step by step"))
    assert [row[2].strip("`") for row in rows] == [str(r) for r in SKIP_ORDER]
    assert all(row[3] for row in rows), "every reason code needs an example"
    assert set(SKIP_ORDER) | {Reason.OK, Reason.DUPLICATE} == set(Reason)


def test_the_outcome_codes_of_imported_and_merged_are_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "**imported** (reason `ok`)" in text
    assert "**merged** (reason `duplicate`)" in text


def test_the_address_classes_are_listed_in_the_order_they_are_checked() -> None:
    section = _section(DOCS.read_text(encoding="utf-8"), "Who is who in an email")
    listed = re.findall(r"^\d\. \*\*(\w+)\*\*", section, flags=re.MULTILINE)
    assert listed == [str(c) for c in AddressClass]


def test_every_setting_is_documented_with_its_default() -> None:
    rows = _table_rows(_section(DOCS.read_text(encoding="utf-8"), "Settings"))
    documented = {row[0].strip("`"): row[1].strip("`") for row in rows}
    assert list(documented) == list(SETTING_KEYS)
    defaults = Settings()
    assert documented["backfill_days"] == str(defaults.backfill_days)
    assert documented["ignore_subaddress"] == str(defaults.ignore_subaddress).lower()
    assert documented["skip_role_addresses"] == str(defaults.skip_role_addresses).lower()
    assert documented["visibility"] == defaults.visibility


def test_the_role_addresses_are_the_ones_the_rules_skip() -> None:
    rows = _table_rows(_section(DOCS.read_text(encoding="utf-8"), "Settings"))
    role_row = next(row for row in rows if row[0] == "`skip_role_addresses`")
    named = set(re.findall(r"`([a-z_-]+)`", role_row[2]))
    assert named == {*ROLE_LOCAL_PARTS, "bounce"}
    assert "starts with `bounce`" in role_row[2]


def test_explain_points_to_the_documentation() -> None:
    result = CliRunner().invoke(app, ["explain", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "docs/import-rules.md" in result.output
