"""The import report: one line of outcome per email looked at, and the counts per reason."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from mailtrail.rules.types import Decision, Reason

IMPORTED = "imported"
MERGED = "merged"
SKIPPED = "skipped"


def outcome(decision: Decision, already_imported: bool) -> tuple[str, Reason]:
    """The report's decision and reason: skipped by a rule, merged into an existing engagement, imported."""
    if not decision.imported:
        return SKIPPED, decision.reason
    if already_imported:
        return MERGED, Reason.DUPLICATE
    return IMPORTED, Reason.OK


@dataclass(slots=True)
class ReportLine:
    """The outcome for one email, as the report's JSON line shows it."""

    source: str
    index: int | None
    key: str
    decision: str
    reason: str
    time: datetime
    people: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    # Addresses in the headers that were no participant (no @, empty local part or domain).
    dropped: int = 0

    def as_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {"source": self.source}
        if self.index is not None:
            line["index"] = self.index
        line.update(key=self.key, decision=self.decision, reason=self.reason, time=self.time.isoformat())
        if self.decision == IMPORTED:
            line.update(people=self.people, accounts=self.accounts, created=self.created)
        if self.dropped:
            line["dropped"] = self.dropped
        return line


@dataclass(slots=True)
class ImportSummary:
    """Counts per decision and reason, people created and addresses dropped, over a whole import."""

    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    people_created: int = 0
    dropped: int = 0

    def add(self, line: ReportLine) -> None:
        self.reasons[(line.decision, line.reason)] += 1
        self.people_created += len(line.created)
        self.dropped += line.dropped

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def count(self, decision: str) -> int:
        return sum(n for (outcome, _), n in self.reasons.items() if outcome == decision)

    def rows(self) -> list[tuple[str, str, int]]:
        """(decision, reason, count), imported first, then merged, then skipped by count."""
        order = {IMPORTED: 0, MERGED: 1, SKIPPED: 2}
        return sorted(
            ((decision, reason, n) for (decision, reason), n in self.reasons.items()),
            key=lambda row: (order[row[0]], -row[2], row[1]),
        )


class ReportWriter:
    """Writes report lines as JSON Lines to an open text file."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, lines: list[ReportLine]) -> None:
        for line in lines:
            self.handle.write(json.dumps(line.as_json(), ensure_ascii=False))
            self.handle.write("\n")
        self.handle.flush()
