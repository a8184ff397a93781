"""What the Gmail benchmarks share (not a benchmark itself): the Gmail sandbox on the real clock, a migrated
database, a workspace with accounts and people, a mailbox connected by domain-wide delegation, and mail.

Everything runs on 127.0.0.1. The sandbox uses the wall clock, since the quotas and push are about real
seconds; mailtrail's ``Runtime`` is configured as production would be, but for the sandbox's URLs and keys.
"""

from __future__ import annotations

import json
import random
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import func, select, text

from mailtrail.config import Settings
from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.people.service import load_people
from mailtrail.crm.team.service import add_member
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import make_engine, transaction
from mailtrail.mail.keys import normalise_message_id
from mailtrail.migrate import upgrade
from mailtrail.models import Engagement
from mailtrail.providers.gmail.auth import GMAIL_READONLY
from mailtrail.sandbox.clock import SystemClock
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.quota import QuotaPolicy
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant
from mailtrail.sync import mailboxes
from mailtrail.sync.runtime import Runtime

COMPANY = "ourco.example"
USER = f"dan@{COMPANY}"  # the connected mailbox
COLLEAGUES = tuple(f"{name}@{COMPANY}" for name in ("eve", "finn", "gina", "hal"))
SERVICE_ACCOUNT = "mailtrail-sync@bench-project.iam.gserviceaccount.com"
TOPIC = "projects/bench-project/topics/gmail"
CUSTOMER, INTERNAL, UNKNOWN = "customer", "internal", "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GmailWorld:
    """The Gmail sandbox (the connected user and colleagues) served over HTTP, on the real clock."""

    def __init__(self, quota: QuotaPolicy) -> None:
        self.tenant = Tenant(SystemClock())
        for address in (USER, *COLLEAGUES):
            self.tenant.add_mailbox(address)
        self.app = create_gmail_app(self.tenant, quota=quota)
        self.sandbox: GmailSandbox = self.app.state.sandbox
        self.server = RunningApp(self.app)
        self.server.start()
        self.base = self.server.base_url
        auth = self.sandbox.auth
        self.key: dict[str, Any] = auth.create_service_account(SERVICE_ACCOUNT, f"{self.base}/token")

    def settings(self, database_url: str, **extra: Any) -> Settings:
        """mailtrail's settings pointing at this sandbox (``extra``: quota profile, push, poll interval)."""
        return Settings(
            database_url=database_url,
            gmail_api_url=self.base,
            google_token_url=f"{self.base}/token",
            google_auth_url=f"{self.base}/o/oauth2/v2/auth",
            secret_keys=SecretStr(Fernet.generate_key().decode()),
            **extra,
        )

    def close(self) -> None:
        self.sandbox.push.close()
        self.server.server.force_exit = True
        self.server.stop()


@contextmanager
def gmail_world(quota: QuotaPolicy) -> Iterator[GmailWorld]:
    world = GmailWorld(quota)
    try:
        yield world
    finally:
        world.close()


def fresh_database(database_url: str | None, folder: Path) -> str:
    """A migrated, empty database: a new SQLite file in ``folder``, or the given one emptied (its ``public``
    schema dropped: give a database you can spare)."""
    url = database_url or f"sqlite:///{Path(tempfile.mkdtemp(dir=folder)) / 'mailtrail.db'}"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    return url


@dataclass(frozen=True, slots=True)
class Crm:
    """The workspace and the customers' addresses, by account domain."""

    workspace_id: int
    people: tuple[str, ...]


def make_workspace(runtime: Runtime, folder: Path, accounts: int = 200, people: int = 2_000) -> Crm:
    """A workspace of ``COMPANY`` with the team, ``accounts`` accounts and ``people`` people (from CSV)."""
    accounts_csv, people_csv = folder / "accounts.csv", folder / "people.csv"
    lines = ["name,domains,created_at"]
    lines += [f"Account {a},acct{a}.example,2020-01-01T00:00:00Z" for a in range(accounts)]
    accounts_csv.write_text("\n".join(lines) + "\n")
    addresses = tuple(f"person{p}@acct{p % accounts}.example" for p in range(people))
    lines = ["external_id,name,emails,accounts,created_at"]
    lines += [
        f"p{p},Person {p},{address},Account {p % accounts},2020-01-01T00:00:00Z"
        for p, address in enumerate(addresses)
    ]
    people_csv.write_text("\n".join(lines) + "\n")
    with transaction(runtime.sessions) as session:
        workspace = create_workspace(session, "bench", [COMPANY])
        for address in (USER, *COLLEAGUES):
            add_member(session, workspace.id, address)
        load_accounts(session, workspace.id, accounts_csv)
        load_people(session, workspace.id, people_csv)
        return Crm(workspace.id, addresses)


def connect(runtime: Runtime, crm: Crm, key: dict[str, Any], address: str = USER) -> int:
    """Connect a mailbox by domain-wide delegation (the service account's key); returns its id."""
    with transaction(runtime.sessions) as session:
        now = runtime.clock()
        credential = mailboxes.store_service_account(
            session, crm.workspace_id, json.dumps(key), GMAIL_READONLY, runtime.box, now
        )
        return mailboxes.connect_mailbox(session, crm.workspace_id, "gmail", address, credential, now).id


def engagements(runtime: Runtime, workspace_id: int) -> int:
    with runtime.sessions() as session:
        query = select(func.count()).select_from(Engagement).where(Engagement.workspace_id == workspace_id)
        return int(session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class Mail:
    """One email to deliver to ``USER``: its raw bytes, its kind, and the key its engagement would have."""

    raw: bytes
    kind: str
    key: str


class MailMaker:
    """Realistic mail for ``USER``: mostly from customers (people of known accounts, some with a colleague or
    a second contact in copy), some internal (colleagues), some from unknown senders (newsletters, strangers).
    Only the customer mail makes engagements."""

    def __init__(
        self, crm: Crm, tag: str, seed: int = 7, internal: float = 0.1, unknown: float = 0.1
    ) -> None:
        self.people = crm.people
        self.tag = tag
        self.random = random.Random(seed)
        self.internal, self.unknown = internal, unknown
        self.count = 0

    def next(self, kind: str | None = None) -> Mail:
        n, pick = self.count, self.random.random()
        self.count += 1
        if kind is None:
            kind = CUSTOMER
            if pick < self.internal + self.unknown:
                kind = INTERNAL if pick < self.internal else UNKNOWN
        cc = ""
        if kind == CUSTOMER:
            sender = self.random.choice(self.people)
            if self.random.random() < 0.3:
                cc = self.random.choice(COLLEAGUES)
            elif self.random.random() < 0.2:
                cc = self.random.choice(self.people)
            subject = f"Re: renewal of contract {n}"
        elif kind == INTERNAL:
            sender, subject = self.random.choice(COLLEAGUES), f"Team sync notes {n}"
        else:
            sender = self.random.choice(("news@vendor-digest.example", f"stranger{n}@mailhost.example"))
            subject = f"Offer {n}"
        message_id = f"<{self.tag}.{n}@bench.example>"
        head = [
            f"Message-ID: {message_id}",
            f"From: {sender}",
            f"To: {USER}",
            *([f"Cc: {cc}"] if cc else []),
            f"Subject: {subject}",
            f"Date: {format_datetime(datetime.now(UTC))}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ]
        body = "Hello,\r\n\r\n" + "Thanks for the call today; notes below.\r\n" * self.random.randint(3, 30)
        raw = ("\r\n".join(head) + "\r\n\r\n" + body + "\r\nBest,\r\n").encode()
        key = normalise_message_id(message_id)
        assert key is not None
        return Mail(raw, kind, key)
