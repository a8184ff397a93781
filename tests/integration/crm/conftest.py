"""Fixtures for the CRM tests: a workspace in the test database and CSV files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.models import Workspace

WriteCsv = Callable[[str, str], Path]


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return create_workspace(session, "acme-cs", ["ourco.com"])


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write ``text`` (lines without indentation) to ``tmp_path/name`` and return the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        lines = [line.strip() for line in text.strip().splitlines()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
