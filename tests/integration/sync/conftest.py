"""A world for sync tests: the Gmail sandbox over real HTTP, a workspace in the test database (SQLite or
PostgreSQL), and the process's sync ``Runtime`` configured as production would be, but for the base URLs and
credentials. Sandbox and engine share one manual clock."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select

from mailtrail.config import Settings
from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.people.service import load_people
from mailtrail.crm.team.service import add_member
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import transaction
from mailtrail.engagements.report import ReportLine
from mailtrail.models import (
    Engagement,
    EngagementAccount,
    EngagementPerson,
    EngagementSource,
    Mailbox,
    Person,
)
from mailtrail.providers.gmail.auth import GMAIL_READONLY, authorization_url, pkce_pair
from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY, QuotaPolicy
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant
from mailtrail.sync import mailboxes
from mailtrail.sync.endpoints import connect_from_callback
from mailtrail.sync.runtime import Runtime

DAN, EVE = "dan@ourco.com", "eve@ourco.com"
START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def message(
    n: int | str, sender: str, to: str, *, cc: str = "", subject: str = "", body: str = "Hello."
) -> bytes:
    """A raw email with Message-ID ``<m{n}@test>``."""
    head = [f"Message-ID: <m{n}@test>", f"From: {sender}", f"To: {to}", f"Subject: {subject or f'Mail {n}'}",
            "Date: Mon, 02 Feb 2026 09:00:00 +0000", "Content-Type: text/plain; charset=utf-8"]  # fmt: skip
    if cc:
        head.append(f"Cc: {cc}")
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n").encode()


@dataclass
class World:
    """The sandbox, the database and the runtime of one test."""

    clock: ManualClock
    tenant: Tenant
    gmail: GmailSandbox
    base: str
    runtime: Runtime
    workspace_id: int
    key: dict[str, Any]
    lines: dict[int, list[ReportLine]] = field(default_factory=dict)

    def connect(self, address: str, *, at: datetime | None = None) -> int:
        """Connect a team member's mailbox by domain-wide delegation (the service account's key)."""
        with transaction(self.runtime.sessions) as session:
            now = at or self.clock.now()
            credential = mailboxes.store_service_account(
                session, self.workspace_id, json.dumps(self.key), GMAIL_READONLY, self.runtime.box, now
            )
            return mailboxes.connect_mailbox(session, self.workspace_id, "gmail", address, credential, now).id

    def connect_by_consent(self, address: str) -> int:
        """Connect a mailbox as its owner would: Google's consent page, Allow, the callback, the exchange."""
        verifier, challenge = pkce_pair()
        redirect = "http://127.0.0.1:9/oauth/google/callback"
        with transaction(self.runtime.sessions) as session:
            state = mailboxes.start_flow(
                session, self.workspace_id, "gmail", verifier, redirect_uri=redirect, scopes=GMAIL_READONLY,
                requested_by=None, box=self.runtime.box, now=self.clock.now(),
            )  # fmt: skip
        url = authorization_url(
            DEFAULT_CLIENT_ID,
            redirect,
            [GMAIL_READONLY],
            state,
            challenge,
            address,
            f"{self.base}/o/oauth2/v2/auth",
        )
        with httpx.Client() as http:
            page = http.get(url)
            form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
            allowed = http.post(f"{self.base}/o/oauth2/v2/auth", data={**form, "user": address})
        query = parse_qs(urlsplit(allowed.headers["location"]).query)
        connected = asyncio.run(connect_from_callback(self.runtime, query["state"][0], query["code"][0]))
        return self.mailbox_id(connected)

    def mailbox_id(self, address: str) -> int:
        with self.runtime.sessions() as session:
            return session.scalars(select(Mailbox.id).where(Mailbox.address == address)).one()

    def mailbox(self, mailbox_id: int) -> Mailbox:
        with self.runtime.sessions() as session:
            return session.get_one(Mailbox, mailbox_id)

    def sync(self, mailbox_id: int) -> str | None:
        return asyncio.run(self.runtime.engine.sync(mailbox_id))

    def outcomes(self, mailbox_id: int) -> dict[str, str]:
        """``{message key: "decision/reason"}`` of every email this mailbox's syncs looked at."""
        return {line.key: f"{line.decision}/{line.reason}" for line in self.lines.get(mailbox_id, [])}

    def engagements(self) -> set[tuple[str, frozenset[str], frozenset[str], frozenset[str]]]:
        """Every engagement as (key, source mailboxes, people's addresses, accounts): what users see."""
        with self.runtime.sessions() as session:
            boxes = dict(session.execute(select(Mailbox.id, Mailbox.address)).all())
            rows = session.execute(select(Engagement.id, Engagement.message_key)).all()
            found = set()
            for engagement_id, key in rows:
                sources = session.scalars(
                    select(EngagementSource.mailbox_id).where(EngagementSource.engagement_id == engagement_id)
                ).all()
                people = session.scalars(
                    select(EngagementPerson.address).where(EngagementPerson.engagement_id == engagement_id)
                ).all()
                accounts = session.scalars(
                    select(EngagementAccount.account_id).where(
                        EngagementAccount.engagement_id == engagement_id
                    )
                ).all()
                found.add((key, frozenset(boxes[s] for s in sources), frozenset(people),
                           frozenset(map(str, accounts))))  # fmt: skip
            return found

    def people(self) -> list[str]:
        with self.runtime.sessions() as session:
            return sorted(name or "" for name in session.scalars(select(Person.name)))


def make_world(
    db_url: str,
    tmp_path: Path,
    quota: QuotaPolicy | None = None,
    team: tuple[str, ...] = (DAN, EVE),
    overrides: Callable[[str], dict[str, Any]] | None = None,
) -> Iterator[World]:
    """A World; ``overrides(sandbox base URL)`` gives settings of the runtime's to change (push set-up)."""
    clock = ManualClock(START)
    tenant = Tenant(clock)
    for address in team:
        tenant.add_mailbox(address)
    app = create_gmail_app(tenant, quota=quota or GMAIL_DEFAULT_POLICY.disabled(), faults=FaultPlan(seed=5))
    server = RunningApp(app)
    server.start()
    try:
        base = server.base_url
        key = app.state.sandbox.auth.create_service_account(
            "sync@proj.iam.gserviceaccount.com", f"{base}/token"
        )
        settings = Settings(
            database_url=db_url, gmail_api_url=base, google_token_url=f"{base}/token",
            google_auth_url=f"{base}/o/oauth2/v2/auth", google_client_id=DEFAULT_CLIENT_ID,
            google_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
            secret_keys=SecretStr(Fernet.generate_key().decode()), **(overrides(base) if overrides else {}),
        )  # fmt: skip
        runtime = Runtime.from_settings(settings, db_url, clock=clock.now)
        with transaction(runtime.sessions) as session:
            workspace = create_workspace(session, "cs", ["ourco.com"])
            for address in team:
                add_member(session, workspace.id, address)
            accounts = tmp_path / "accounts.csv"
            accounts.write_text("name,domains,created_at\nAcme,acme.com,2020-01-01T00:00:00Z\n")
            load_accounts(session, workspace.id, accounts)
            people = tmp_path / "people.csv"
            people.write_text(
                "external_id,name,emails,accounts,created_at\n"
                "ann,Ann Lee,ann@acme.com,Acme,2020-01-01T00:00:00Z\n"
            )
            load_people(session, workspace.id, people)
            workspace_id = workspace.id
        world = World(clock, tenant, app.state.sandbox, base, runtime, workspace_id, key)
        runtime.engine.observers.append(lambda box, lines: world.lines.setdefault(box, []).extend(lines))
        yield world
        runtime.database.dispose()
    finally:
        app.state.sandbox.push.close()
        server.stop()


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(db_url, tmp_path)
