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
from mailtrail.models import Mailbox, Workspace, utcnow
from mailtrail.providers.gmail.auth import authorization_url, pkce_pair, scopes_for
from mailtrail.secrets import SecretBox, SecretError
from mailtrail.sync import mailboxes
from mailtrail.sync.endpoints import GOOGLE_CALLBACK_PATH
from mailtrail.sync.jobs import job_app
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
    provider: Annotated[str, typer.Argument(help="gmail")],
    service_account: Annotated[
        Path | None,
        typer.Option(help="A Google service-account key (JSON) with domain-wide delegation; then --user."),
    ] = None,
    user: Annotated[
        list[str] | None, typer.Option(help="With --service-account: a team member's mailbox to sync.")
    ] = None,
    login_hint: Annotated[
        str | None, typer.Option(help="The address to connect (preselected at Google).")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Connect mailboxes: a link to Google's consent page, or a service account and the users to sync."""
    if provider != "gmail":
        raise CliError(f"{provider!r}: only gmail can be connected so far")
    settings = Settings()
    with workspace_session(workspace) as (session, ws):
        box = _box(settings)
        now = utcnow()
        scopes = scopes_for(ws.visibility)
        if service_account is not None:
            if not user:
                raise CliError(
                    "--service-account needs at least one --user: the team members whose mailboxes to sync"
                )
            try:
                key_json = service_account.read_text(encoding="utf-8")
            except OSError as exc:
                raise CliError(f"{service_account}: {exc.strerror or exc}") from None
            credential = mailboxes.store_service_account(session, ws.id, key_json, " ".join(scopes), box, now)
            for address in user:
                mailbox = mailboxes.connect_mailbox(session, ws.id, "gmail", address, credential, now)
                typer.echo(f"connected {mailbox.address} (domain-wide delegation by {credential.subject})")
            return
        if not settings.google_client_id:
            raise CliError(
                "set MAILTRAIL_GOOGLE_CLIENT_ID (and _SECRET) to the deployment's Google OAuth client"
            )
        redirect = settings.public_url.rstrip("/") + GOOGLE_CALLBACK_PATH
        verifier, challenge = pkce_pair()
        joined = " ".join(scopes)
        state = mailboxes.start_flow(
            session, ws.id, "gmail", verifier, redirect_uri=redirect, scopes=joined, requested_by=None,
            box=box, now=now,
        )  # fmt: skip
        url = authorization_url(
            settings.google_client_id,
            redirect,
            scopes,
            state,
            challenge,
            login_hint,
            settings.google_auth_url,
        )
    typer.echo(
        f"Open this link and grant access (valid for {mailboxes.FLOW_LIFETIME.seconds // 60} minutes):"
    )
    typer.echo(url)
    typer.echo(f"Google sends you back to {redirect}: `mailtrail serve` must be running there.")


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
        f"purged {address}: {engagements} engagements and {people} people it alone brought were deleted"
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
