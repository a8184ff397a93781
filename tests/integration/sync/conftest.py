"""A world for sync tests: the Gmail sandbox over real HTTP, a workspace in the test database (SQLite or
PostgreSQL), and the process's sync ``Runtime`` configured as production would be, but for the base URLs and
credentials. Sandbox and engine share one manual clock."""

from __future__ import annotations

import asyncio
import html
import json
import re
import ssl
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
from mailtrail.providers.microsoft import start_connect
from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mailtrail.sandbox.graph.app import create_graph_app
from mailtrail.sandbox.graph.tls import make_loopback_certificate
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY, GRAPH_POLICY, QuotaPolicy
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant
from mailtrail.sync import mailboxes
from mailtrail.sync.endpoints import connect_from_callback, connect_microsoft_from_callback
from mailtrail.sync.microsoft import CALLBACK_PATH as MICROSOFT_CALLBACK
from mailtrail.sync.microsoft import user_app
from mailtrail.sync.runtime import Runtime

DAN, EVE = "dan@ourco.com", "eve@ourco.com"
START = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
# mailtrail's own app registration at the Microsoft sandbox, and where people come back after consenting.
MS_CLIENT_ID, MS_CLIENT_SECRET = "4f7a4b2e-0c9d-4a57-8e43-3d5b2a9c1e01", "mailtrail-test-secret"
PUBLIC_URL = "http://127.0.0.1:8765"
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
    graph_base: str = ""

    def connect_microsoft(self, address: str) -> int:
        """Connect a mailbox by the app's access to the tenant (app-only, admin consent, client secret)."""
        with transaction(self.runtime.sessions) as session:
            credential = mailboxes.store_app_credential(
                session, self.workspace_id, MS_CLIENT_ID, self.runtime.settings.microsoft_tenant,
                "client_secret", MS_CLIENT_SECRET, "Mail.Read", self.runtime.box, self.clock.now(),
            )  # fmt: skip
            return mailboxes.connect_mailbox(
                session, self.workspace_id, "microsoft", address, credential, self.clock.now()
            ).id

    def connect_microsoft_by_consent(self, address: str) -> int:
        """Connect a mailbox as its owner would at Microsoft: sign-in and consent, the form POST back."""
        settings = self.runtime.settings
        redirect = f"{PUBLIC_URL}{MICROSOFT_CALLBACK}"
        started = asyncio.run(start_connect(user_app(settings), redirect, login_hint=address))
        with transaction(self.runtime.sessions) as session:
            mailboxes.start_flow(
                session, self.workspace_id, "microsoft", started.flow, redirect_uri=redirect,
                scopes="Mail.Read", requested_by=None, box=self.runtime.box, now=self.clock.now(),
                state=started.state,
            )  # fmt: skip
        with httpx.Client(verify=ssl.create_default_context(cafile=str(settings.microsoft_ca_file))) as http:
            page = http.get(started.auth_uri)
            fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
            url = urlsplit(started.auth_uri)._replace(query="").geturl()
            answer = http.post(url, data={**fields, "user": address, "decision": "accept"})
        posted = {name: html.unescape(value) for name, value in _HIDDEN.findall(answer.text)}
        connected = asyncio.run(connect_microsoft_from_callback(self.runtime, posted))
        return self.mailbox_id_of("microsoft", connected)

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
        return self.mailbox_id_of("gmail", address)

    def mailbox_id_of(self, provider: str, address: str) -> int:
        with self.runtime.sessions() as session:
            query = select(Mailbox.id).where(Mailbox.address == address, Mailbox.provider == provider)
            return session.scalars(query).one()

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
    graph: bool = False,
) -> Iterator[World]:
    """A World; ``overrides(sandbox base URL)`` gives settings of the runtime's to change (push set-up);
    ``graph`` also serves the Microsoft Graph sandbox (over TLS, as msal requires) on the same mailboxes."""
    clock = ManualClock(START)
    tenant = Tenant(clock)
    for address in team:
        tenant.add_mailbox(address)
    app = create_gmail_app(tenant, quota=quota or GMAIL_DEFAULT_POLICY.disabled(), faults=FaultPlan(seed=5))
    server = RunningApp(app)
    server.start()
    graph_server = None
    microsoft: dict[str, Any] = {}
    if graph:
        graph_app = create_graph_app(tenant, quota=GRAPH_POLICY.disabled(), faults=FaultPlan(seed=6))
        loopback = make_loopback_certificate(tmp_path)
        graph_server = RunningApp(graph_app, tls=(str(loopback.cert_file), str(loopback.key_file)))
        graph_server.start()
        identity = graph_app.state.sandbox.identity
        identity.register_app(MS_CLIENT_ID, MS_CLIENT_SECRET, (f"{PUBLIC_URL}{MICROSOFT_CALLBACK}",),
                              frozenset({"Mail.Read", "User.Read.All"}))  # fmt: skip
        microsoft = {
            "graph_api_url": graph_server.base_url, "microsoft_login_url": graph_server.base_url,
            "microsoft_client_id": MS_CLIENT_ID, "microsoft_client_secret": SecretStr(MS_CLIENT_SECRET),
            "microsoft_tenant": identity.tenant_id, "microsoft_ca_file": loopback.cert_file,
            "microsoft_notifications": False, "public_url": PUBLIC_URL,
        }  # fmt: skip
    try:
        base = server.base_url
        key = app.state.sandbox.auth.create_service_account(
            "sync@proj.iam.gserviceaccount.com", f"{base}/token"
        )
        settings = Settings(
            database_url=db_url, gmail_api_url=base, google_token_url=f"{base}/token",
            google_auth_url=f"{base}/o/oauth2/v2/auth", google_client_id=DEFAULT_CLIENT_ID,
            google_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
            secret_keys=SecretStr(Fernet.generate_key().decode()),
            **{**microsoft, **(overrides(base) if overrides else {})},
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
        if graph_server is not None:
            world.graph_base = graph_server.base_url
        runtime.engine.observers.append(lambda box, lines: world.lines.setdefault(box, []).extend(lines))
        yield world
        runtime.database.dispose()
    finally:
        app.state.sandbox.push.close()
        server.stop()
        if graph_server is not None:
            graph_server.stop()


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(db_url, tmp_path)
