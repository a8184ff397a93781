"""A real Graph emulator over HTTPS on 127.0.0.1 (msal insists on https), a manual clock, and a webhook."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_graph_app
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.graph.tls import LoopbackCertificate, make_loopback_certificate
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant

ADA = "ada@example.com"
BOB = "bob@example.com"
CUSTOMER = "carol@customer.test"


def make_raw(
    subject: str, sender: str = CUSTOMER, to: str = ADA, body: str = "Hello from the customer."
) -> bytes:
    """A small RFC 822 message written for these tests."""
    msg = EmailMessage()
    msg["From"] = f"Carol Customer <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg["Date"] = format_datetime(ManualClock().now())
    msg.set_content(body)
    return msg.as_bytes()


@dataclass
class GraphServer:
    """One running emulator: its base URL, state, tenant, clock and the certificate to trust."""

    base: str
    app: FastAPI
    sandbox: GraphSandbox
    tenant: Tenant
    clock: ManualClock
    cert: LoopbackCertificate

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.sandbox.tenant_id}"

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        trust = ssl.create_default_context(cafile=str(self.cert.cert_file))
        return httpx.Client(base_url=self.base, verify=trust, headers=headers, timeout=15)

    def request_token(self, client: httpx.Client, **fields: str) -> httpx.Response:
        """POST to the token endpoint as the sandbox app (``fields`` add to or override its credentials)."""
        data = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET, **fields}
        return client.post(f"/{self.sandbox.tenant_id}/oauth2/v2.0/token", data=data)

    def app_token(self) -> str:
        """An app-only token from the token endpoint (client credentials)."""
        with self.client() as client:
            response = self.request_token(
                client, grant_type="client_credentials", scope="https://graph.microsoft.com/.default"
            )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def token_for(self, client_id: str, *permissions: str) -> str:
        """An app-only token of a newly registered app whose admin-consented roles are ``permissions``."""
        self.sandbox.identity.register_app(client_id, "its-secret", app_permissions=frozenset(permissions))
        with self.client() as client:
            response = self.request_token(
                client,
                grant_type="client_credentials",
                client_id=client_id,
                client_secret="its-secret",
                scope="https://graph.microsoft.com/.default",
            )
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCertificate:
    return make_loopback_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def graph(certificate: LoopbackCertificate) -> Iterator[GraphServer]:
    clock = ManualClock()
    tenant = Tenant(clock)
    tenant.add_mailbox(ADA, "Ada Lovelace")
    tenant.add_mailbox(BOB, "Bob Builder")
    app = create_graph_app(tenant)
    running = RunningApp(app, tls=(str(certificate.cert_file), str(certificate.key_file)))
    running.start()
    yield GraphServer(running.base_url, app, app.state.sandbox, tenant, clock, certificate)
    running.server.force_exit = True  # msal's requests session keeps connections open
    running.stop()


@dataclass
class Webhook:
    """A local notification endpoint that records what Graph POSTs to it."""

    url: str
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, object]] = field(default_factory=list)
    # echo | refuse (500) | wrong (another token) | down (500 to change notifications) | slow (late handshake)
    mode: str = "echo"

    def items(self) -> list[dict[str, object]]:
        """Every notification item received, in arrival order."""
        return [item for payload in self.notifications for item in payload["value"]]  # type: ignore[attr-defined]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if "validationToken" in query:
                token = query["validationToken"][0]
                hook.validations.append(token)
                if hook.mode == "slow":
                    time.sleep(0.5)  # longer than the handshake timeout the test sets
                if hook.mode == "refuse":
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = (token if hook.mode == "echo" else "something else").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            if hook.mode == "down" and not self.path.endswith("/lifecycle"):
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            hook.notifications.append(json.loads(body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    yield hook
    server.shutdown()
    thread.join(timeout=5)
