"""Reading a CSV file of CRM records: header checks, line numbers, and problems collected for one error."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mailtrail.crm.errors import CrmError, CsvLoadError
from mailtrail.crm.fields import parse_time


@dataclass(frozen=True, slots=True)
class LoadCounts:
    """What a CSV load did: records created, updated, and already as the file says."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One record: the line it starts on and its values by column (stripped; "" when absent)."""

    line: int
    values: dict[str, str]


class CsvProblems:
    """Problems found while validating a file, each as ``FILE:LINE: field 'X': what is wrong``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._found: list[tuple[int, str]] = []

    @property
    def count(self) -> int:
        return len(self._found)

    def add(self, line: int, field: str, what: str) -> None:
        self._found.append((line, f"{self.path}:{line}: field '{field}': {what}"))

    def add_line(self, line: int, what: str) -> None:
        self._found.append((line, f"{self.path}:{line}: {what}"))

    def optional_time(self, row: CsvRow, field: str) -> datetime | None:
        """The row's ISO 8601 time in ``field``, None when empty; a bad one is recorded as a problem."""
        if not row.values.get(field):
            return None
        try:
            return parse_time(row.values[field])
        except ValueError as exc:
            self.add(row.line, field, str(exc))
            return None

    def raise_if_any(self) -> None:
        """Raise one ``CsvLoadError`` with every problem, in line order."""
        if self._found:
            ordered = sorted(self._found, key=lambda found: found[0])
            raise CsvLoadError(self.path, [text for _, text in ordered])


def read_csv(path: Path | str, *, required: tuple[str, ...], optional: tuple[str, ...]) -> list[CsvRow]:
    """Every record of the file; raises ``CsvLoadError`` for a bad header, bad encoding or broken quoting."""
    name = str(path)
    problems = CsvProblems(name)
    text = _read_text(Path(path), name)
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    header: list[str] | None = None
    rows: list[CsvRow] = []
    next_line = 1
    try:
        for record in reader:
            line, next_line = next_line, reader.line_num + 1
            if not any(value.strip() for value in record):
                continue
            if header is None:
                header = _check_header(record, line, required, optional, problems)
                problems.raise_if_any()
                continue
            if len(record) > len(header):
                problems.add_line(line, f"{len(record)} values but the header has {len(header)} columns")
                continue
            values = dict(zip(header, [value.strip() for value in record], strict=False))
            if len(record) < len(header):
                # Trailing empty columns may be left out.
                for column in header[len(record) :]:
                    values[column] = ""
            rows.append(CsvRow(line, values))
    except csv.Error as exc:
        problems.add_line(next_line, f"not valid CSV ({exc})")
    if header is None and not problems.count:
        problems.add_line(1, f"no header row (expected columns: {', '.join(required + optional)})")
    problems.raise_if_any()
    return rows


def _read_text(path: Path, name: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CrmError(f"{name}: no such file") from None
    except OSError as exc:
        raise CrmError(f"{name}: cannot read it ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvLoadError(name, [f"{name}:{line}: not UTF-8 text (byte {exc.start})"]) from None


def _check_header(
    record: list[str], line: int, required: tuple[str, ...], optional: tuple[str, ...], problems: CsvProblems
) -> list[str]:
    # "External ID" and "external-id" mean external_id: headers written by hand or by spreadsheets.
    header = [re.sub(r"[\s-]+", "_", column.strip().lower()) for column in record]
    known = required + optional
    seen: set[str] = set()
    for column in header:
        if column in seen:
            problems.add(line, column, "column appears twice in the header")
        elif column not in known:
            problems.add(line, column, f"unknown column (the columns are: {', '.join(known)})")
        seen.add(column)
    for column in required:
        if column not in seen:
            problems.add(line, column, "missing required column in the header")
    return header
