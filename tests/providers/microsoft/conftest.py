"""Fixtures for the Microsoft 365 connector tests: the Graph sandbox served over HTTPS on 127.0.0.1 (msal
only accepts an https authority), mailboxes connected through the sandbox's own consent page and token
endpoint with msal, app-only credentials (secret, certificate), and a webhook for change notifications."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailtrail.providers.base import Page
from mailtrail.providers.gmail import RetryPolicy
from mailtrail.providers.microsoft import (
    AppTokens,
    CertificateCredential,
    ConnectedUser,
    DelegatedTokens,
    GraphClient,
    GraphConnector,
    MicrosoftApp,
    finish_connect,
    start_connect,
    validation_answer,
)
from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.generator import GeneratedMail, TrafficGenerator
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_graph_app
from mailtrail.sandbox.graph.ids import folder_graph_id, message_graph_id
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.graph.tls import LoopbackCertificate, make_loopback_certificate
from mailtrail.sandbox.quota import GRAPH_POLICY, QuotaPolicy
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Mailbox, StoredMessage, Tenant

TEAM = ["ann.lee@company.example", "bo.chen@company.example"]
ANN, BO = TEAM
REDIRECT = "http://localhost"
# Small waits, so that retries take milliseconds; the throttle wait is what the connector reports.
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, throttle_delay=60.0)
CERT_APP = "7c1e3b52-7d7a-4f0e-9c57-1f7c8d2a4b10"
# The well-known folders whose mail the connector leaves out (the sandbox has no Outbox of its own).
LEFT_OUT = {"drafts", "junkemail", "deleteditems"}


def gid(message: StoredMessage) -> str:
    """The immutable Graph id of a sandbox message."""
    return message_graph_id(message.mailbox, message.id, message.folder_id, "immutable")


def graph_folder(mailbox: Mailbox, folder_id: str) -> str:
    """The Graph id of a sandbox folder."""
    return folder_graph_id(mailbox.address, folder_id)


def left_out(mailbox: Mailbox, message: StoredMessage) -> bool:
    """Whether the message sits in, or under, a folder whose mail is left out."""
    folder = mailbox.folder(message.folder_id)
    while folder.parent_id is not None and folder.well_known_name is None:
        folder = mailbox.folder(folder.parent_id)
    return folder.well_known_name in LEFT_OUT


def visible_since(mailbox: Mailbox, since: datetime) -> set[str]:
    """What a sync from ``since`` must hand over: all received since then, outside the folders left out."""
    return {gid(m) for m in mailbox.messages() if m.received_at >= since and not left_out(mailbox, m)}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCertificate:
    return make_loopback_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def traffic() -> list[GeneratedMail]:
    """Generated traffic from six days back, some of it after the clock's now (made once: it is slow)."""
    return list(TrafficGenerator(TEAM, seed=5).generate(ManualClock().now() - timedelta(days=6), 90))


@pytest.fixture
def tenant(traffic: list[GeneratedMail]) -> Tenant:
    """Two team mailboxes holding the traffic, each message received when it was sent (later ones arrive as
    the clock moves on); spam already received is in Junk Email, drafts in Drafts."""
    tenant = Tenant(ManualClock())
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
class Graph:
    """A running Graph sandbox: its base URL, state, tenant, clock and the CA file that trusts it."""

    base: str
    sandbox: GraphSandbox
    tenant: Tenant
    clock: ManualClock
    ca_file: str

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.sandbox.tenant_id}"

    def app(
        self, client_id: str = SANDBOX_CLIENT_ID, credential: Any = SANDBOX_CLIENT_SECRET
    ) -> MicrosoftApp:
        """msal's view of an app of the sandbox tenant (the sandbox app unless told otherwise)."""
        return MicrosoftApp(client_id, credential, self.authority, ca_file=self.ca_file)

    def key(self, user: str, app_id: str = SANDBOX_CLIENT_ID) -> str:
        """The sandbox's quota key of an app on a mailbox."""
        return f"{app_id}/{user}"


@contextmanager
def running(
    tenant: Tenant, loopback: LoopbackCertificate, quota: QuotaPolicy | None = None, **options: Any
) -> Iterator[Graph]:
    """The Graph sandbox over ``tenant`` on a random port, with TLS; quota off unless ``quota`` is given."""
    app = create_graph_app(
        tenant, quota=quota or GRAPH_POLICY.disabled(), faults=FaultPlan(seed=3), **options
    )
    server = RunningApp(app, tls=(str(loopback.cert_file), str(loopback.key_file)))
    server.start()
    try:
        assert isinstance(tenant.clock, ManualClock)
        yield Graph(server.base_url, app.state.sandbox, tenant, tenant.clock, str(loopback.cert_file))
    finally:
        app.state.sandbox.hub.close()
        server.server.force_exit = True  # msal's requests session keeps connections open
        server.stop()


@pytest.fixture
def graph(tenant: Tenant, loopback: LoopbackCertificate) -> Iterator[Graph]:
    with running(tenant, loopback) as served:
        yield served


class _Form(HTMLParser):
    """The fields of the first form on a page (hidden inputs), and its action."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and not self.action:
            self.action = values.get("action") or ""
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def read_form(page: str) -> _Form:
    form = _Form()
    form.feed(page)
    return form


async def consent(graph: Graph, auth_uri: str, user: str, decision: str = "accept") -> dict[str, str]:
    """Sign in as ``user`` on the sandbox's consent page; the answer the identity platform POSTs back."""
    async with httpx.AsyncClient(verify=_context(graph)) as http:
        page = await http.get(auth_uri)
        assert page.status_code == 200, page.text
        form = read_form(page.text)
        page_url = urlsplit(auth_uri)._replace(query="").geturl()
        answer = await http.post(page_url, data={**form.fields, "user": user, "decision": decision})
    # response_mode=form_post: a page that POSTs the code to the redirect URI, never a redirect with it.
    assert answer.status_code == 200, answer.text
    posted = read_form(answer.text)
    assert posted.action == REDIRECT
    return posted.fields


def _context(graph: Graph) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=graph.ca_file)


async def connect(graph: Graph, user: str) -> ConnectedUser:
    """Connect ``user``'s mailbox as a person would: the consent page, Accept, the answer, the redemption."""
    app = graph.app()
    started = await start_connect(app, REDIRECT, login_hint=user)
    assert "code_challenge" in started.auth_uri
    return await finish_connect(app, started.flow, await consent(graph, started.auth_uri, user))


@dataclass
class Spent:
    """Records the units the client spends."""

    units: list[int] = field(default_factory=list)

    async def __call__(self, units: int) -> None:
        self.units.append(units)

    @property
    def total(self) -> int:
        return sum(self.units)


@pytest.fixture
def spent() -> Spent:
    return Spent()


@dataclass
class Saved:
    """Records the grants a delegated token source asks to store."""

    states: list[str] = field(default_factory=list)

    async def __call__(self, state: str) -> None:
        self.states.append(state)


async def open_connector(
    graph: Graph, user: str = ANN, *, spend: Spent | None = None, app_only: bool = False, page_size: int = 10,
    http: httpx.AsyncClient | None = None, saved: Saved | None = None, retry: RetryPolicy = FAST,
    **options: Any,
) -> GraphConnector:  # fmt: skip
    """A connector for ``user``'s mailbox: delegated (connected through the consent page) or app-only."""
    tokens: DelegatedTokens | AppTokens
    if app_only:
        tokens = AppTokens(graph.app(), retry=FAST)
    else:
        tokens = DelegatedTokens(graph.app(), (await connect(graph, user)).grant, on_change=saved, retry=FAST)
    client = GraphClient(
        graph.base, tokens, http, spend=spend or Spent(), retry=retry, user=user if app_only else "me",
        ca_file=graph.ca_file,
    )  # fmt: skip
    return GraphConnector(client, page_size=page_size, clock=graph.clock.now, **options)


@pytest.fixture
async def ann(graph: Graph, spent: Spent) -> AsyncIterator[GraphConnector]:
    connector = await open_connector(graph, ANN, spend=spent, page_size=7)
    yield connector
    await connector.aclose()


async def sync(connector: GraphConnector, cursor: str) -> tuple[list[str], str, list[Page]]:
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


def make_certificate(directory: Path, name: str = "test app") -> tuple[CertificateCredential, bytes]:
    """A self-signed RSA certificate for an app registration, and its PEM (what an admin uploads)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / f"{name}.pem").write_bytes(cert_pem)
    return CertificateCredential(key_pem.decode(), cert_pem.decode()), cert_pem


@dataclass
class Webhook:
    """A notification endpoint on 127.0.0.1: answers the validation handshake, records notifications."""

    url: str = ""
    validations: list[str] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lifecycle_url(self) -> str:
        return self.url + "/lifecycle"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    state = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            token = validation_answer(query)
            if token is not None:
                state.validations.append(token)
                answer = token.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            state.received.append(json.loads(body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/graph/notify"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
