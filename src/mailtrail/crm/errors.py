"""Errors that are the user's doing (bad input, a conflict): shown as one clear message, never a traceback."""

from __future__ import annotations

# How many problems a CSV error message shows; the exception keeps them all.
SHOWN_PROBLEMS = 200


class CrmError(Exception):
    """A user error in the CRM domain: the message says what is wrong and where."""


class CsvLoadError(CrmError):
    """A CSV file that cannot be loaded; ``problems`` holds one ``FILE:LINE: field 'X': ...`` line each."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        count = len(problems)
        shown = problems[:SHOWN_PROBLEMS]
        lines = [f"{path}: {count} problem{'s' if count != 1 else ''}, nothing was changed:", *shown]
        if count > len(shown):
            lines.append(f"... and {count - len(shown)} more")
        super().__init__("\n".join(lines))
