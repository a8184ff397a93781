"""The live demo: the product running for real against the sandbox, on this machine alone.

A Gmail mailbox and a Microsoft 365 mailbox of a made-up company receive generated customer mail over
time. mailtrail is served as in production (its app, push endpoints and in-process sync jobs over SQLite),
connects both mailboxes through the real OAuth flows (the sandbox's consent pages, mailtrail's callbacks),
syncs them as push notifications arrive, and reports every email as it lands.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from mailtrail.api.app import create_app
from mailtrail.config import Settings
from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.blacklist.service import add_entries
from mailtrail.crm.people.service import load_people
from mailtrail.crm.team.service import add_member
from mailtrail.crm.workspaces.service import create_workspace, find_workspace, set_setting
from mailtrail.db import make_engine, session_factory, transaction
from mailtrail.demo.consent import allow_google, allow_microsoft
from mailtrail.engagements.report import ReportLine
from mailtrail.migrate import upgrade
from mailtrail.models import Mailbox
from mailtrail.providers.gmail.auth import authorization_url, pkce_pair, scopes_for
from mailtrail.providers.microsoft import MAIL_READ, start_connect
from mailtrail.sandbox.clock import SystemClock
from mailtrail.sandbox.generator import COMPANIES, GeneratedMail, TrafficGenerator
from mailtrail.sandbox.gmail.app import create_gmail_app
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mailtrail.sandbox.gmail.push import PUSH_SERVICE_ACCOUNT
from mailtrail.sandbox.graph.app import create_graph_app
from mailtrail.sandbox.graph.tls import make_loopback_certificate
from mailtrail.sandbox.server import DeliveryTicker, RunningApp
from mailtrail.sandbox.store import Tenant
from mailtrail.sync import mailboxes
from mailtrail.sync.endpoints import GMAIL_PUSH_PATH, GOOGLE_CALLBACK_PATH
from mailtrail.sync.microsoft import CALLBACK_PATH as MICROSOFT_CALLBACK_PATH
from mailtrail.sync.microsoft import user_app
from mailtrail.sync.runtime import Runtime

COMPANY_DOMAIN = "company.example"
GMAIL_USER, MICROSOFT_USER = "ana.moreau@company.example", "ben.okafor@company.example"
TEAM = [GMAIL_USER, MICROSOFT_USER, "chloe.silva@company.example"]
# Accounts for all but the last two made-up companies, so that some customer mail has no account (unknown).
ACCOUNT_COMPANIES = COMPANIES[:-2]
TOPIC = "projects/mailtrail-demo/topics/gmail"
MICROSOFT_APP = ("6a1f9c3e-2b7d-4e58-9f0a-1c3d5e7f9a2b", "demo-app-secret")
# How far back the demo's workspace imports when a mailbox is connected.
BACKFILL_DAYS = 3


@dataclass
class LiveDemo:
    """Everything the demo runs; ``start`` brings it up, ``stop`` takes it down."""

    folder: Path
    port: int = 8000
    every: float = 4.0
    on_line: Callable[[str, ReportLine], None] = lambda _mailbox, _line: None
    urls: dict[str, str] = field(default_factory=dict)
    _servers: list[RunningApp] = field(default_factory=list)
    _ticker: DeliveryTicker | None = None
    _runtime: Runtime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        port = self.port or _free_port()
        public = f"http://127.0.0.1:{port}"
        tenant = Tenant(SystemClock())
        for address in TEAM:
            tenant.add_mailbox(address)
        gmail_app = create_gmail_app(tenant)
        gmail = self._serve(gmail_app)
        loopback = make_loopback_certificate(self.folder)
        graph_app = create_graph_app(tenant)
        graph = self._serve(graph_app, tls=(str(loopback.cert_file), str(loopback.key_file)))
        graph_app.state.sandbox.identity.register_app(
            MICROSOFT_APP[0], MICROSOFT_APP[1], (public + MICROSOFT_CALLBACK_PATH,), frozenset({"Mail.Read"})
        )
        # Gmail publishes to a Pub/Sub topic whose push subscription calls mailtrail, with a signed token.
        gmail_app.state.sandbox.push.create_subscription(TOPIC, public + GMAIL_PUSH_PATH)
        database = self.folder / "mailtrail.db"
        settings = Settings(
            database_url=f"sqlite:///{database}", public_url=public,
            secret_keys=SecretStr(Fernet.generate_key().decode()),
            gmail_api_url=gmail.base_url, google_auth_url=f"{gmail.base_url}/o/oauth2/v2/auth",
            google_token_url=f"{gmail.base_url}/token", google_certs_url=f"{gmail.base_url}/oauth2/v3/certs",
            google_client_id=DEFAULT_CLIENT_ID, google_client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
            google_pubsub_topic=TOPIC, google_push_service_account=PUSH_SERVICE_ACCOUNT,
            graph_api_url=graph.base_url, microsoft_login_url=graph.base_url,
            microsoft_client_id=MICROSOFT_APP[0], microsoft_client_secret=SecretStr(MICROSOFT_APP[1]),
            microsoft_tenant=graph_app.state.sandbox.identity.tenant_id, microsoft_ca_file=loopback.cert_file,
            sync_concurrency=4,
        )  # fmt: skip
        traffic = _traffic(tenant.clock.now())
        _workspace(settings, traffic, self.folder)
        runtime = self._runtime = Runtime.from_settings(settings)
        runtime.engine.observers.append(self._report)
        self._serve(create_app(runtime, jobs="in-process"), port=port, lifespan=True)
        self.urls = {"mailtrail": public, "gmail": gmail.base_url, "graph": graph.base_url}
        # The past few days are in the mailboxes before they are connected (backfill imports them) ...
        now = tenant.clock.now()
        for mail in traffic:
            if mail.sent_at <= now:
                _deliver(tenant, mail, mail.sent_at)  # received when it was sent
        _connect(settings, runtime, loopback.cert_file)
        # ... and new mail keeps arriving, one email every few seconds.
        live = [replace_time(mail, now + timedelta(seconds=self.every * (n + 1)))
                for n, mail in enumerate(m for m in traffic if m.sent_at > now)]  # fmt: skip
        for mail in live:
            _deliver(tenant, mail, mail.sent_at)
        self._ticker = DeliveryTicker(tenant, interval=0.2)
        self._ticker.start()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        for server in reversed(self._servers):
            server.stop()
        if self._runtime is not None:
            self._runtime.database.dispose()

    def mailbox_addresses(self) -> dict[int, str]:
        assert self._runtime is not None
        with self._runtime.sessions() as session:
            names = {"gmail": "Gmail", "microsoft": "Microsoft 365"}
            return {
                box.id: f"{box.address.split('@')[0]} on {names[box.provider]}"
                for box in session.query(Mailbox)
            }

    def _serve(self, app: object, *, port: int = 0, tls: tuple[str, str] | None = None,
               lifespan: bool = False) -> RunningApp:  # fmt: skip
        server = RunningApp(app, port, tls=tls, lifespan=lifespan)
        server.start()
        self._servers.append(server)
        return server

    def _report(self, mailbox_id: int, lines: list[ReportLine]) -> None:
        names = self.mailbox_addresses()
        with self._lock:
            for line in lines:
                self.on_line(names.get(mailbox_id, str(mailbox_id)), line)


def replace_time(mail: GeneratedMail, at: datetime) -> GeneratedMail:
    return GeneratedMail(mail.raw, at, mail.kind, mail.draft_of)


def _traffic(now: datetime) -> list[GeneratedMail]:
    """Made-up traffic: the last days (imported by the backfill), then what arrives live, oldest first."""
    generator = TrafficGenerator(team=TEAM, company_domain=COMPANY_DOMAIN, seed=7, customer_domains=5)
    return list(generator.generate(now - timedelta(days=BACKFILL_DAYS), 260))


def _deliver(tenant: Tenant, mail: GeneratedMail, at: datetime | None) -> None:
    if mail.draft_of is not None:
        tenant.mailbox(mail.draft_of).save_draft(mail.raw)
        return
    labels = ["SPAM"] if mail.kind == "spam" else None
    if labels is None:
        tenant.deliver(mail.raw, at=at)
    else:
        tenant.deliver(mail.raw, at=at, labels=labels)


def _workspace(settings: Settings, traffic: list[GeneratedMail], folder: Path) -> None:
    """The demo workspace: company domain, team, accounts for most customer companies, a few people known for
    long, one customer on the blacklist, and a few days of backfill."""
    engine = make_engine(settings.database_url)
    upgrade(engine)
    customers = _customers(traffic)
    by_domain = {f"{name.lower()}.example": name for name in ACCOUNT_COMPANIES}
    known = [c for c in customers if c.split("@", 1)[1] in by_domain][:4]
    accounts = folder / "accounts.csv"
    accounts.write_text("name,domains,created_at\n" + "".join(
        f"{name},{name.lower()}.example,2020-01-01T00:00:00Z\n" for name in ACCOUNT_COMPANIES
    ))  # fmt: skip
    people = folder / "people.csv"
    people.write_text("external_id,name,emails,accounts,created_at\n" + "".join(
        f"crm-{n},{c.split('@')[0].replace('.', ' ').title()},{c},{by_domain[c.split('@', 1)[1]]},"
        "2020-01-01T00:00:00Z\n" for n, c in enumerate(known, 1)
    ))  # fmt: skip
    with transaction(session_factory(engine)) as session:
        workspace = create_workspace(session, "demo", [COMPANY_DOMAIN])
        for address in TEAM:
            add_member(session, workspace.id, address)
        load_accounts(session, workspace.id, accounts)
        load_people(session, workspace.id, people)
        set_setting(session, workspace, "backfill_days", str(BACKFILL_DAYS))
        # One customer asked never to be recorded: the blacklist keeps their mail out.
        add_entries(session, workspace.id, [customers[-1]], added_by=TEAM[0])
    engine.dispose()


def _customers(traffic: list[GeneratedMail]) -> list[str]:
    found: list[str] = []
    for mail in traffic:
        if mail.kind != "customer":
            continue
        header = mail.raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        for line in header.splitlines():
            if line.lower().startswith("from:"):
                found += [a for _, a in getaddresses([line[5:]]) if not a.endswith(COMPANY_DOMAIN)]
    return list(dict.fromkeys(found))


def _connect(settings: Settings, runtime: Runtime, ca_file: Path) -> None:
    """Both mailboxes through the real OAuth flows: mailtrail's link, consent, mailtrail's callback."""
    with transaction(runtime.sessions) as session:
        workspace = find_workspace(session, "demo")
        workspace_id, scopes = workspace.id, scopes_for(workspace.visibility)
        verifier, challenge = pkce_pair()
        google_redirect = settings.public_url + GOOGLE_CALLBACK_PATH
        state = mailboxes.start_flow(
            session, workspace_id, "gmail", verifier, redirect_uri=google_redirect, scopes=" ".join(scopes),
            requested_by=None, box=runtime.box, now=runtime.clock(),
        )  # fmt: skip
    client_id, auth_url = settings.google_client_id, settings.google_auth_url
    google = authorization_url(client_id, google_redirect, scopes, state, challenge, GMAIL_USER, auth_url)
    microsoft_redirect = settings.public_url + MICROSOFT_CALLBACK_PATH
    started = asyncio.run(start_connect(user_app(settings), microsoft_redirect, login_hint=MICROSOFT_USER))
    with transaction(runtime.sessions) as session:
        mailboxes.start_flow(
            session, workspace_id, "microsoft", started.flow, redirect_uri=microsoft_redirect,
            scopes=MAIL_READ, requested_by=None, box=runtime.box, now=runtime.clock(), state=started.state,
        )  # fmt: skip
    with httpx.Client(timeout=30) as http:
        answered = allow_google(http, google, GMAIL_USER)
        answered.raise_for_status()
    with httpx.Client(timeout=30, verify=ssl.create_default_context(cafile=str(ca_file))) as http:
        answered = allow_microsoft(http, started.auth_uri, MICROSOFT_USER)
        answered.raise_for_status()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
