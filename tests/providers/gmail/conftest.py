"""Fixtures for the Gmail connector tests: the Gmail sandbox served over real HTTP on 127.0.0.1, mailboxes
connected through the sandbox's own consent page and token endpoint, and a push receiver."""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mailtrail.providers.base import Page
from mailtrail.providers.gmail import (
    GMAIL_READONLY,
    GmailClient,
    GmailConnector,
    GrantedTokens,
    OAuthTokens,
    RetryPolicy,
    authorization_url,
    exchange_code,
    pkce_pair,
)
from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.generator import GeneratedMail, TrafficGenerator
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY, QuotaPolicy
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

TEAM = ["ann.lee@company.example", "bo.chen@company.example"]
ANN, BO = TEAM
REDIRECT = "http://127.0.0.1:9/callback"
# Small waits, so that retries take milliseconds; the throttle wait is what the connector reports.
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, throttle_delay=60.0)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def traffic() -> list[GeneratedMail]:
    """Generated traffic from six days back, some of it after the clock's now (made once: it is slow)."""
    return list(TrafficGenerator(TEAM, seed=2).generate(ManualClock().now() - timedelta(days=6), 90))


@pytest.fixture
def tenant(clock: ManualClock, traffic: list[GeneratedMail]) -> Tenant:
    """Two team mailboxes holding the traffic, each message received when it was sent (later ones arrive
    as the clock moves on); spam already received is in SPAM."""
    tenant = Tenant(clock)
    for address in TEAM:
        tenant.add_mailbox(address)
    for mail in traffic:
        if mail.draft_of is not None:
            tenant.mailbox(mail.draft_of).save_draft(mail.raw)
            continue
        for stored in tenant.deliver(mail.raw, at=mail.sent_at):
            if mail.kind == "spam":
                tenant.mailbox(stored.mailbox).modify(stored.id, add=["SPAM"], remove=["INBOX"])
    return tenant


@dataclass
class Gmail:
    """A running Gmail sandbox: its base URL and its state."""

    base: str
    sandbox: GmailSandbox
    tenant: Tenant
    clock: ManualClock

    @property
    def token_uri(self) -> str:
        return f"{self.base}/token"


@contextmanager
def running(tenant: Tenant, quota: QuotaPolicy | str | None = None, **options: Any) -> Iterator[Gmail]:
    """The Gmail sandbox over ``tenant`` on a random port; quota off unless ``quota`` is given."""
    policy = quota if quota is not None else GMAIL_DEFAULT_POLICY.disabled()
    app = create_gmail_app(tenant, quota=policy, faults=FaultPlan(seed=3), **options)
    try:
        with serve({"gmail": app}) as urls:
            assert isinstance(tenant.clock, ManualClock)
            yield Gmail(urls["gmail"], app.state.sandbox, tenant, tenant.clock)
    finally:
        app.state.sandbox.push.close()


@pytest.fixture
def gmail(tenant: Tenant) -> Iterator[Gmail]:
    with running(tenant) as served:
        yield served


async def connect(gmail: Gmail, user: str, scopes: Sequence[str] = (GMAIL_READONLY,)) -> GrantedTokens:
    """Connect ``user``'s mailbox as a person would: the consent page, Allow, the redirect, the exchange."""
    verifier, challenge = pkce_pair()
    url = authorization_url(
        DEFAULT_CLIENT_ID, REDIRECT, scopes, "state-123", challenge, login_hint=user,
        auth_uri=f"{gmail.base}/o/oauth2/v2/auth",
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        page = await http.get(url)
        assert page.status_code == 200
        form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
        assert form["access_type"] == "offline"
        assert form["prompt"] == "consent"
        allowed = await http.post(f"{gmail.base}/o/oauth2/v2/auth", data={**form, "user": user})
        assert allowed.status_code == 302
        query = parse_qs(urlsplit(allowed.headers["location"]).query)
        assert query["state"] == ["state-123"]
        return await exchange_code(
            query["code"][0], client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET,
            redirect_uri=REDIRECT, code_verifier=verifier, token_uri=gmail.token_uri,
            gmail_base_url=gmail.base, http=http, retry=FAST,
        )  # fmt: skip


def tokens_for(gmail: Gmail, granted: GrantedTokens) -> OAuthTokens:
    return OAuthTokens(
        DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, granted.refresh_token, gmail.token_uri, retry=FAST
    )


@dataclass
class Spent:
    """Records the quota units the client spends."""

    units: list[int] = field(default_factory=list)

    async def __call__(self, units: int) -> None:
        self.units.append(units)

    @property
    def total(self) -> int:
        return sum(self.units)


@pytest.fixture
def spent() -> Spent:
    return Spent()


async def open_connector(
    gmail: Gmail, user: str = ANN, *, spend: Spent | None = None, scopes: Sequence[str] = (GMAIL_READONLY,),
    metadata_only: bool = False, topic: str | None = None, page_size: int = 100,
    http: httpx.AsyncClient | None = None,
) -> GmailConnector:  # fmt: skip
    """A connector for ``user``'s mailbox, connected through the sandbox's OAuth."""
    tokens = tokens_for(gmail, await connect(gmail, user, scopes))
    client = GmailClient(gmail.base, tokens, http, spend=spend or Spent(), retry=FAST)
    return GmailConnector(client, metadata_only=metadata_only, topic=topic, page_size=page_size)


@pytest.fixture
async def ann(gmail: Gmail, spent: Spent) -> AsyncIterator[GmailConnector]:
    connector = await open_connector(gmail, ANN, spend=spent, page_size=7)
    yield connector
    await connector.aclose()


async def sync(connector: GmailConnector, cursor: str) -> tuple[list[str], str, list[Page]]:
    """Page until done as the engine does (fetching each page); the ids handed over, the cursor, the pages."""
    handed: list[str] = []
    pages: list[Page] = []
    while True:
        page = await connector.page(cursor)
        pages.append(page)
        await connector.fetch(page.message_ids, with_body=False)
        handed.extend(page.message_ids)
        cursor = page.cursor
        if page.done:
            return handed, cursor, pages


@dataclass
class Receiver:
    """A push endpoint on 127.0.0.1: records (Authorization header, JSON body) of each POST, answers 204."""

    url: str = ""
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.received.append((self.headers.get("Authorization", ""), json.loads(body)))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/push"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
