"""Commands of the sync domain: `mailtrail mailbox ...`, `mailtrail worker` and `mailtrail serve`.

Each mailbox command is a boundary: one transaction (``workspace_session``), the services, a commit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from mailtrail.config import Settings
from mailtrail.crm.boundary import CliError, cli_errors, database_url, migrate, open_engine, workspace_session
from mailtrail.logs import configure_logging
from mailtrail.models import Credential, Mailbox, Workspace, utcnow
from mailtrail.providers.base import ProviderError
from mailtrail.providers.gmail.auth import authorization_url, pkce_pair, scopes_for
from mailtrail.providers.microsoft import MAIL_READ, start_connect
from mailtrail.secrets import SecretBox, SecretError
from mailtrail.sync import mailboxes
from mailtrail.sync.endpoints import GOOGLE_CALLBACK_PATH
from mailtrail.sync.jobs import job_app
from mailtrail.sync.microsoft import CALLBACK_PATH as MICROSOFT_CALLBACK_PATH
from mailtrail.sync.microsoft import certificate_secret, user_app
from mailtrail.sync.repository import MailboxRepository
from mailtrail.sync.runtime import Runtime
from mailtrail.sync.status import describe

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (needed only when there are several).")
]
AddressArgument = Annotated[str, typer.Argument(help="The mailbox's address.")]
mailbox_app = typer.Typer(
    help="Synced mailboxes: connect, status, pause, resume, disconnect.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root app."""
    app.add_typer(mailbox_app, name="mailbox")
    app.command("worker")(worker)
    app.command("serve")(serve)


def _box(settings: Settings) -> SecretBox:
    try:
        return SecretBox.from_settings(settings, database_url())
    except SecretError as exc:
        raise CliError(str(exc)) from None


def _mailbox(session: Session, workspace: Workspace, address: str) -> Mailbox:
    repository = MailboxRepository(session, workspace.id)
    clean = address.strip().lower()
    found = [m for m in repository.all() if m.address == clean and m.provider != "file"]
    if not found:
        raise CliError(
            f"no synced mailbox {clean} in workspace {workspace.name}: see `mailtrail mailbox list`"
        )
    return found[0]


@mailbox_app.command("connect")
def connect(
    provider: Annotated[str, typer.Argument(help="gmail or microsoft")],
    user: Annotated[
        list[str] | None,
        typer.Option(help="A team member's mailbox to sync with an admin's credential (repeat)."),
    ] = None,
    service_account: Annotated[
        Path | None, typer.Option(help="gmail: a service-account key (JSON) with domain-wide delegation.")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option(help="microsoft: the tenant whose admin consented (app-only access).")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="microsoft app-only: the app's client id (default: the deployment's).")
    ] = None,
    client_secret_file: Annotated[
        Path | None, typer.Option(help="microsoft app-only: a file holding the app's client secret.")
    ] = None,
    certificate: Annotated[
        Path | None, typer.Option(help="microsoft app-only: the app's certificate (PEM); with --private-key.")
    ] = None,
    private_key: Annotated[
        Path | None, typer.Option(help="microsoft app-only: its private key (PEM).")
    ] = None,
    login_hint: Annotated[
        str | None, typer.Option(help="The address to connect (preselected on the consent page).")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Connect mailboxes: a link to the provider's consent page for one person, or an admin's credential
    (a Google service account, a Microsoft app in a tenant) and the team members whose mailboxes to sync."""
    settings = Settings()
    with workspace_session(workspace) as (session, ws):
        box, now = _box(settings), utcnow()
        if provider == "gmail" and service_account is not None:
            scopes = " ".join(scopes_for(ws.visibility))
            key_json = _read(service_account)
            credential = mailboxes.store_service_account(session, ws.id, key_json, scopes, box, now)
            _connect_users(
                session, ws, "gmail", credential, user, f"domain-wide delegation by {credential.subject}"
            )
            return
        if provider == "microsoft" and tenant is not None:
            credential = _microsoft_app_credential(
                session, ws, settings, box, tenant, client_id, client_secret_file, certificate, private_key
            )
            _connect_users(
                session, ws, "microsoft", credential, user, f"app {credential.subject} in {tenant}"
            )
            return
        if provider == "gmail":
            url, redirect = _google_link(session, ws, settings, box, login_hint)
        elif provider == "microsoft":
            url, redirect = _microsoft_link(session, ws, settings, box, login_hint)
        else:
            raise CliError(f"{provider!r}: connect gmail or microsoft")
    typer.echo(
        f"Open this link and grant access (valid for {mailboxes.FLOW_LIFETIME.seconds // 60} minutes):"
    )
    typer.echo(url)
    typer.echo(f"You are sent back to {redirect}: `mailtrail serve` must be running there.")


def _connect_users(
    session: Session, ws: Workspace, provider: str, credential: Credential, users: list[str] | None, how: str
) -> None:
    if not users:
        raise CliError("an admin's credential needs --user: the team members whose mailboxes to sync")
    for address in users:
        mailbox = mailboxes.connect_mailbox(session, ws.id, provider, address, credential, utcnow())
        typer.echo(f"connected {mailbox.address} ({how})")


def _google_link(
    session: Session, ws: Workspace, settings: Settings, box: SecretBox, login_hint: str | None
) -> tuple[str, str]:
    if not settings.google_client_id:
        raise CliError(
            "set MAILTRAIL_GOOGLE_CLIENT_ID (and _SECRET) to this deployment's Google OAuth client"
        )
    redirect = settings.public_url.rstrip("/") + GOOGLE_CALLBACK_PATH
    scopes = scopes_for(ws.visibility)
    verifier, challenge = pkce_pair()
    state = mailboxes.start_flow(
        session, ws.id, "gmail", verifier, redirect_uri=redirect, scopes=" ".join(scopes), requested_by=None,
        box=box, now=utcnow(),
    )  # fmt: skip
    client_id, auth_url = settings.google_client_id, settings.google_auth_url
    return authorization_url(client_id, redirect, scopes, state, challenge, login_hint, auth_url), redirect


def _microsoft_link(
    session: Session, ws: Workspace, settings: Settings, box: SecretBox, login_hint: str | None
) -> tuple[str, str]:
    redirect = settings.public_url.rstrip("/") + MICROSOFT_CALLBACK_PATH
    try:
        started = asyncio.run(start_connect(user_app(settings), redirect, login_hint=login_hint))
    except ProviderError as exc:
        raise CliError(exc.detail) from None
    mailboxes.start_flow(
        session, ws.id, "microsoft", started.flow, redirect_uri=redirect, scopes=MAIL_READ, requested_by=None,
        box=box, now=utcnow(), state=started.state,
    )  # fmt: skip
    return started.auth_uri, redirect


def _microsoft_app_credential(
    session: Session, ws: Workspace, settings: Settings, box: SecretBox, tenant: str, client_id: str | None,
    client_secret_file: Path | None, certificate: Path | None, private_key: Path | None,
) -> Credential:  # fmt: skip
    app_id = client_id or settings.microsoft_client_id
    if not app_id:
        raise CliError(
            "--client-id (or MAILTRAIL_MICROSOFT_CLIENT_ID): the app the tenant's admin consented to"
        )
    if certificate is not None or private_key is not None:
        if certificate is None or private_key is None:
            raise CliError("--certificate and --private-key go together")
        secret, kind = certificate_secret(_read(private_key), _read(certificate)), "certificate"
    elif client_secret_file is not None:
        secret, kind = _read(client_secret_file).strip(), "client_secret"
    elif settings.microsoft_client_secret is not None:
        secret, kind = settings.microsoft_client_secret.get_secret_value(), "client_secret"
    else:
        raise CliError("app-only access needs --client-secret-file, or --certificate and --private-key")
    return mailboxes.store_app_credential(
        session, ws.id, app_id, tenant, kind, secret, MAIL_READ, box, utcnow()
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None


@mailbox_app.command("list")
def list_mailboxes(workspace: WorkspaceOption = None) -> None:
    """Every mailbox of the workspace with its status."""
    with workspace_session(workspace) as (session, ws):
        now = utcnow()
        table = Table(title=f"Mailboxes of {ws.name}")
        for column in ("address", "provider", "status", "details"):
            table.add_column(column)
        for mailbox in MailboxRepository(session, ws.id).all():
            status = describe(mailbox, now)
            table.add_row(mailbox.address, mailbox.provider, status.state, status.words)
    Console(highlight=False).print(table)


@mailbox_app.command("status")
def status(address: AddressArgument, workspace: WorkspaceOption = None) -> None:
    """One mailbox in detail: status, last sync, backlog, watch, counts by reason, recent events."""
    with workspace_session(workspace) as (session, ws):
        mailbox = _mailbox(session, ws, address)
        repository = MailboxRepository(session, ws.id)
        now = utcnow()
        state = describe(mailbox, now)
        lines = [
            f"{mailbox.address} ({mailbox.provider}): {state.state}",
            f"  {state.words}",
            f"  connected {_at(mailbox.connected_at)}; imports mail received since {_at(mailbox.sync_from)}",
            f"  last successful sync {_at(mailbox.last_success_at)}; last try {_at(mailbox.last_attempt_at)}",
            f"  backlog: {mailbox.backlog if mailbox.backlog is not None else 'unknown'}; push notifications "
            f"until {_at(mailbox.watch_expires_at)}",
        ]
        if mailbox.last_error:
            lines.append(f"  last error ({_at(mailbox.last_error_at)}): {mailbox.last_error}")
        totals = repository.outcome_totals(mailbox.id)
        if totals:
            lines.append("  emails looked at: " + ", ".join(
                f"{decision} {reason} {n}" for (decision, reason), n in sorted(totals.items())
            ))  # fmt: skip
        for event in repository.events(mailbox.id, limit=8):
            lines.append(f"  {_at(event.at)}  {event.kind}: {event.detail}")
    typer.echo("\n".join(lines))


@mailbox_app.command("pause")
def pause(address: AddressArgument, workspace: WorkspaceOption = None) -> None:
    """Stop syncing a mailbox until it is resumed."""
    with workspace_session(workspace) as (session, ws):
        mailboxes.pause(session, ws.id, _mailbox(session, ws, address), None, utcnow())
    typer.echo(f"paused {address}")


@mailbox_app.command("resume")
def resume(address: AddressArgument, workspace: WorkspaceOption = None) -> None:
    """Sync a paused (or stopped) mailbox again, from where it stopped."""
    with workspace_session(workspace) as (session, ws):
        mailboxes.resume(session, ws.id, _mailbox(session, ws, address), utcnow())
    typer.echo(f"resumed {address}")


@mailbox_app.command("disconnect")
def disconnect(address: AddressArgument, workspace: WorkspaceOption = None) -> None:
    """Stop syncing a mailbox for good and forget its access; its engagements stay."""
    with workspace_session(workspace) as (session, ws):
        mailboxes.disconnect(session, ws.id, _mailbox(session, ws, address), utcnow())
    typer.echo(f"disconnected {address}; its engagements are kept")


@mailbox_app.command("purge")
def purge(
    address: AddressArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this deletes engagements.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Disconnect a mailbox and delete the engagements (and people) only it brought."""
    if not yes:
        raise typer.BadParameter("purging deletes engagements: add --yes to confirm", param_hint="--yes")
    with workspace_session(workspace) as (session, ws):
        engagements, people = mailboxes.purge(session, ws.id, _mailbox(session, ws, address), utcnow())
    typer.echo(
        f"purged {address}: deleted {engagements} engagements and {people} people that only it brought"
    )


@mailbox_app.command("sync")
def sync_now(address: AddressArgument, workspace: WorkspaceOption = None) -> None:
    """Sync one mailbox now, in this process, and say how it ended."""
    with workspace_session(workspace) as (session, ws):
        mailbox_id = _mailbox(session, ws, address).id
    with cli_errors():
        runtime = _runtime()
        try:
            result = asyncio.run(runtime.engine.sync(mailbox_id))
            with runtime.sessions() as session:
                mailbox = session.get_one(Mailbox, mailbox_id)
                typer.echo(
                    f"{address}: {describe(mailbox, utcnow()).words}" if result else f"{address}: not synced"
                )
        finally:
            runtime.database.dispose()


def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once by this process.")] = 8,
) -> None:
    """Run sync jobs from the queue (PostgreSQL) until stopped; start as many as you like, anywhere."""
    configure_logging(json=True)
    with cli_errors():
        runtime = _runtime()
        if runtime.database.dialect.name != "postgresql":
            raise CliError("workers need PostgreSQL; with SQLite, `mailtrail serve` runs the sync itself")
        queue = job_app(runtime.settings.database_url, runtime.engine, runtime.dispatcher)

        async def run() -> None:
            async with queue.open_async():
                await queue.run_worker_async(concurrency=concurrency, install_signal_handlers=True)

        asyncio.run(run())


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app and the push and OAuth endpoints; with SQLite, the sync jobs too."""
    from mailtrail.api.app import create_app

    configure_logging(json=True)
    with cli_errors():
        engine = open_engine()
        migrate(engine)
        engine.dispose()
        runtime = _runtime()
    uvicorn.run(create_app(runtime), host=host, port=port, log_config=None, proxy_headers=True)


def _runtime() -> Runtime:
    settings = Settings()
    try:
        return Runtime.from_settings(settings, database_url())
    except SecretError as exc:
        raise CliError(str(exc)) from None


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"
