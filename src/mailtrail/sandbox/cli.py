"""``mailtrail sandbox``: the Gmail and Graph emulators on 127.0.0.1, seeded and delivering over time."""

from __future__ import annotations

import secrets
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from mailtrail.sandbox.clock import SystemClock
from mailtrail.sandbox.generator import TrafficGenerator, populate
from mailtrail.sandbox.quota import GMAIL_QUOTA_PROFILES, GRAPH_POLICY
from mailtrail.sandbox.seeding import SeedError, seed_mailbox
from mailtrail.sandbox.server import DeliveryTicker, RunningApp
from mailtrail.sandbox.store import Tenant


def _parse_seed(value: str) -> tuple[str, Path | None]:
    address, sep, path = value.partition("=")
    if "@" not in address:
        raise typer.BadParameter(f"--seed wants ADDRESS=PATH or ADDRESS=generated, got {value!r}")
    if not sep or path == "generated":
        return address.strip().lower(), None
    return address.strip().lower(), Path(path)


def _graph_app(tenant: Tenant, dev_token: str | None, quota: bool) -> tuple[Any, tuple[str, str] | None, str]:
    """The Graph app if its package is present, served over TLS (msal wants https); else nothing."""
    try:
        from mailtrail.sandbox.graph.app import create_graph_app
        from mailtrail.sandbox.graph.tls import make_loopback_certificate
    except ImportError as exc:  # the Graph emulator is optional for the Gmail side
        return None, None, f"Graph emulator unavailable: {exc}"
    cert = make_loopback_certificate(Path(tempfile.mkdtemp(prefix="mailtrail-sandbox-")))
    note = f"Graph TLS certificate (trust it in your client): {cert.cert_file}"
    policy = GRAPH_POLICY if quota else GRAPH_POLICY.disabled()
    app = create_graph_app(tenant, dev_token=dev_token, quota=policy)
    return app, (str(cert.cert_file), str(cert.key_file)), note


def sandbox(
    gmail_port: Annotated[int, typer.Option(help="Port of the Gmail API emulator (0: a free one).")] = 8081,
    graph_port: Annotated[
        int, typer.Option(help="Port of the Microsoft Graph emulator (0: a free one).")
    ] = 8082,
    seed: Annotated[
        list[str] | None,
        typer.Option(
            help="ADDRESS=PATH (file, mbox, Maildir, directory, tarball) or ADDRESS=generated. Repeatable."
        ),
    ] = None,
    deliver_every: Annotated[
        float,
        typer.Option(help="Deliver one generated message every N seconds to the seeded mailboxes (0: off)."),
    ] = 0.0,
    dev_token: Annotated[
        str | None, typer.Option(help="A bearer token both emulators accept for every seeded mailbox.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Seed at most N messages per mailbox.")] = None,
    quota: Annotated[bool, typer.Option(help="Enforce the providers' rate and concurrency limits.")] = True,
    gmail_quota: Annotated[
        str,
        typer.Option(
            help="Gmail quota profile: default (6,000 units/user/minute) or legacy (15,000/min, 250/s)."
        ),
    ] = "default",
    gmail_certs_url: Annotated[
        str, typer.Option(help="Where the Gmail push-token keys are published (a path here, or a URL).")
    ] = "/oauth2/v1/certs",
    gmail_publishing_status: Annotated[
        str, typer.Option(help="production, or testing: Gmail refresh tokens then expire after 7 days.")
    ] = "production",
) -> None:
    """Run local Gmail and Graph emulators with seeded mailboxes until Ctrl-C."""
    from mailtrail.sandbox.gmail.app import create_gmail_app

    if gmail_quota not in GMAIL_QUOTA_PROFILES:
        raise typer.BadParameter(f"one of {', '.join(GMAIL_QUOTA_PROFILES)}", param_hint="--gmail-quota")
    if gmail_publishing_status not in ("production", "testing"):
        raise typer.BadParameter("production or testing", param_hint="--gmail-publishing-status")
    tenant = Tenant(SystemClock())
    seeds = [_parse_seed(value) for value in seed or ["ann.lee@company.example=generated"]]
    team = [address for address, _ in seeds]
    for address, path in seeds:
        box = tenant.add_mailbox(address)
        try:
            if path is not None:
                count = seed_mailbox(box, path, limit=limit)
                typer.echo(f"seeded {address}: {count} messages from {path}")
        except SeedError as exc:
            raise typer.BadParameter(str(exc), param_hint="--seed") from exc
    generated = [address for address, path in seeds if path is None]
    if generated:
        generator = TrafficGenerator(generated, seed=1)
        count = populate(tenant, generator, tenant.clock.now() - timedelta(days=14), limit or 200)
        typer.echo(f"generated {count} deliveries for {', '.join(generated)}")
    token = dev_token or secrets.token_urlsafe(24)
    gmail_policy = GMAIL_QUOTA_PROFILES[gmail_quota]
    gmail_app = create_gmail_app(
        tenant,
        dev_token=token,
        quota=gmail_policy if quota else gmail_policy.disabled(),
        certs_url=gmail_certs_url,
        publishing_status="testing" if gmail_publishing_status == "testing" else "production",
    )
    gmail = RunningApp(gmail_app, gmail_port, log_level="info")
    graph_app, tls, note = _graph_app(tenant, token, quota)
    servers = [gmail] + ([RunningApp(graph_app, graph_port, log_level="info", tls=tls)] if graph_app else [])
    ticker = DeliveryTicker(tenant)
    stop = threading.Event()
    for server in servers:
        server.start()
    ticker.start()
    typer.echo(f"Gmail API: {gmail.base_url}/gmail/v1/users/me/profile")
    typer.echo(f"Gmail push-token keys: {gmail_app.state.sandbox.certs_url_for(gmail.base_url)}")
    if graph_app:
        typer.echo(f"Graph:     {servers[1].base_url}/v1.0/users/{team[0]}/mailFolders")
    typer.echo(note)
    typer.echo(f"Authorization: Bearer {token}")
    live = TrafficGenerator(team, seed=2)
    stream = live.generate(tenant.clock.now(), 10**9)
    try:
        while not stop.wait(deliver_every if deliver_every > 0 else 3600):
            if deliver_every > 0:
                mail = next(stream)
                if mail.draft_of is not None:
                    tenant.add_mailbox(mail.draft_of).save_draft(mail.raw)
                else:
                    tenant.deliver(mail.raw)
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        ticker.stop()
        for server in servers:
            server.stop()


def register(app: typer.Typer) -> None:
    """Add ``mailtrail sandbox``."""
    app.command("sandbox")(sandbox)
