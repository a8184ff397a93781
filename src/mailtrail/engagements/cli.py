"""Commands of the engagements domain: import, explain, demo."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mailtrail.addresses import normalise_address
from mailtrail.config import Settings
from mailtrail.crm.accounts.service import account_names
from mailtrail.crm.boundary import CliError, chosen_workspace, cli_errors, database_session, open_engine
from mailtrail.crm.snapshot import load_snapshot
from mailtrail.db import session_factory
from mailtrail.engagements.explain import REASON_TEXT, Explanation, explain
from mailtrail.engagements.ingest import Ingest, ingest_all
from mailtrail.engagements.report import ImportSummary, ReportLine, ReportWriter
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.mail.rfc822 import parse_message
from mailtrail.providers.files.reader import (
    SourceError,
    check_paths,
    count_files,
    ignored_files,
    read_emails,
    read_incoming,
)

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (needed only when there are several).")
]


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root app."""
    app.command("import")(import_emails)
    app.command("explain")(explain_email)
    from mailtrail.demo.cli import demo

    app.command("demo")(demo)


def mailbox_address(text: str) -> str:
    address = normalise_address(text.strip())
    if address is None:
        raise CliError(f"--mailbox {text!r} is not an email address")
    return address


def import_emails(
    paths: Annotated[
        list[Path], typer.Argument(help="mbox files, Maildirs, directories of RFC 822 files, files.")
    ],
    mailbox: Annotated[
        str, typer.Option("--mailbox", help="The address of the mailbox these emails come from.")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide everything, write nothing.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write one JSON line per email to this file.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Import emails from files: each gets a decision (imported, merged or skipped) with its reason."""
    console = Console(stderr=True)
    with cli_errors(), ExitStack() as stack:
        address = mailbox_address(mailbox)
        try:
            sources = check_paths(paths)
        except SourceError as exc:
            raise CliError(str(exc)) from None
        engine = open_engine()
        stack.callback(engine.dispose)
        session = stack.enter_context(session_factory(engine)())
        chosen = chosen_workspace(session, workspace)
        if report and not report.parent.is_dir():
            raise CliError(f"--report {report}: the directory {report.parent} does not exist")
        writer = ReportWriter(stack.enter_context(report.open("w", encoding="utf-8"))) if report else None
        now = datetime.now(UTC)
        mailbox_row = EngagementRepository(session, chosen.id).get_or_create_mailbox(address, "file", now)
        ingest = Ingest(chosen.id, mailbox_row.id)
        progress = Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console,
            disable=not console.is_terminal,
        )  # fmt: skip
        task = progress.add_task("import", total=count_files(sources) if console.is_terminal else None)

        def show(lines: list[ReportLine]) -> None:
            if writer:
                writer.write(lines)
            progress.advance(task, len(lines))

        started = time.perf_counter()
        with progress, _source_errors():
            summary = ingest_all(
                session, ingest, read_incoming(sources), batch_size=Settings().import_batch_size, now=now,
                commit=not dry_run, on_batch=show,
            )  # fmt: skip
        if dry_run:
            session.rollback()
        seconds = time.perf_counter() - started
        print_summary(summary, seconds, dry_run=dry_run, report=report, ignored=ignored_files(sources))


@contextmanager
def _source_errors() -> Iterator[None]:
    """A file that cannot be read stops the import with its path; batches before it stay committed."""
    try:
        yield
    except SourceError as exc:
        raise CliError(
            f"{exc}; the emails before it were imported, running the import again is safe"
        ) from None


def print_summary(
    summary: ImportSummary,
    seconds: float,
    *,
    dry_run: bool,
    report: Path | None,
    ignored: Sequence[Path] = (),
) -> None:
    """The counts per decision and reason, on the terminal."""
    console = Console(highlight=False)
    title = "Dry run: nothing was written" if dry_run else "Import"
    table = Table(title=f"{title} ({summary.total} emails in {seconds:.1f} s)")
    table.add_column("decision")
    table.add_column("reason")
    table.add_column("emails", justify="right")
    for decision, reason, count in summary.rows():
        table.add_row(decision, reason, str(count))
    console.print(table)
    verb = "would be created" if dry_run else "created"
    console.print(f"people {verb}: {summary.people_created}")
    if summary.dropped:
        console.print(f"addresses dropped (no @, empty local part or domain): {summary.dropped}")
    if ignored:
        shown = ", ".join(str(p) for p in ignored[:3]) + (", ..." if len(ignored) > 3 else "")
        console.print(f"not read as mail (hidden or data files): {len(ignored)}: {shown}")
    if report:
        console.print(f"report: {report}")


def explain_email(
    file: Annotated[
        Path, typer.Argument(help="An RFC 822 file (or an mbox: every email in it is explained).")
    ],
    mailbox: Annotated[
        str | None, typer.Option("--mailbox", help="The mailbox it would be imported from (internal).")
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option("--at", help="Decide as if the email had been received at this time (UTC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Say what an import would decide for an email and why, for every participant, without importing.

    Every rule and reason code is described in docs/import-rules.md of the mailtrail repository.
    """
    with cli_errors():
        try:
            emails = list(read_emails(check_paths([file])))
        except SourceError as exc:
            raise CliError(str(exc)) from None
        extra = [mailbox_address(mailbox)] if mailbox else []
        received_at = (at if at.tzinfo else at.replace(tzinfo=UTC)) if at else None
        now = datetime.now(UTC)
        with database_session() as session:
            ws = chosen_workspace(session, workspace)
            snapshot = load_snapshot(session, ws.id, extra_internal=extra)
            names = account_names(session, ws.id)
            repository = EngagementRepository(session, ws.id)
            explanations = []
            for raw in emails:
                email = parse_message(raw.data, received_at=received_at)
                imported = bool(repository.existing_keys([email.key]))
                explanations.append(
                    explain(email, snapshot, now, already_imported=imported, account_names=names)
                )
            session.rollback()
        for explanation in explanations:
            if as_json:
                typer.echo(json.dumps(explanation.as_json(), ensure_ascii=False))
            else:
                print_explanation(explanation)


def print_explanation(explanation: Explanation) -> None:
    console = Console(highlight=False)
    body = explanation.as_json()
    console.print(f"[bold]{body['decision']}[/bold] ({body['reason']}): {REASON_TEXT[explanation.reason]}")
    console.print(f"key: {body['key']}   time: {body['time']}   subject: {body['subject']!r}")
    table = Table(show_header=True)
    for column in ("role", "address", "class", "why"):
        table.add_column(column)
    for participant in body["participants"]:
        table.add_row(participant["role"], participant["address"], participant["class"], participant["why"])
    console.print(table)
    if explanation.plan is not None:
        console.print(f"people linked: {', '.join(body['people']) or 'none'}")
        console.print(f"people created: {', '.join(body['would_create']) or 'none'}")
        console.print(f"accounts: {', '.join(body['accounts']) or 'none'}")
    if body["defects"]:
        console.print(f"parse notes: {'; '.join(body['defects'])}")
