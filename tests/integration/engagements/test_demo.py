"""`mailtrail demo`: what a newcomer runs first must build a workspace and import customer mail."""

import json
from pathlib import Path

from typer.testing import CliRunner

from mailtrail.cli import app


def test_demo_imports_a_generated_mailbox_and_says_where_to_look(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--output", str(output), "--messages", "60"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (output / "report.jsonl").read_text().splitlines()]
    decisions = {(line["decision"], line["reason"]) for line in lines}
    assert ("imported", "ok") in decisions
    # The demo shows mail left out too: at least one of internal, unknown sender or blacklisted.
    assert decisions & {("skipped", "internal"), ("skipped", "unknown_sender"), ("skipped", "blacklisted")}
    assert any(line.get("created") for line in lines)
    assert (output / "mailtrail.db").is_file()
    assert str(output / "mailtrail.db") in result.output
    # Running it again starts afresh instead of failing on the existing workspace.
    again = CliRunner().invoke(app, ["demo", "--output", str(output), "--messages", "60"])
    assert again.exit_code == 0, again.output
