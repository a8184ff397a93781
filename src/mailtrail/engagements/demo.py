"""`mailtrail demo`: a demo workspace, a generated mailbox of made-up customer email, and its import."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated

import typer

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.blacklist.service import add_entries
from mailtrail.crm.boundary import cli_errors
from mailtrail.crm.people.service import load_people
from mailtrail.crm.team.service import add_member
from mailtrail.crm.workspaces.service import create_workspace, find_workspace
from mailtrail.db import make_engine, session_factory, transaction
from mailtrail.engagements.cli import print_summary
from mailtrail.engagements.ingest import Ingest, ingest_all
from mailtrail.engagements.report import ReportWriter
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.migrate import upgrade
from mailtrail.providers.files.reader import read_incoming
from mailtrail.sandbox.generator import COMPANIES, TrafficGenerator

COMPANY_DOMAIN = "company.example"
TEAM = ["ana.moreau@company.example", "ben.okafor@company.example", "chloe.silva@company.example"]
# Accounts for all but the last two made-up companies, so that some customer mail has no account (unknown).
ACCOUNT_COMPANIES = COMPANIES[:-2]


def demo(
    output: Annotated[
        Path, typer.Option("--output", help="Folder for the demo database, mailbox and report.")
    ] = Path("demo-output"),
    messages: Annotated[int, typer.Option("--messages", min=10, help="How many emails to generate.")] = 150,
) -> None:
    """Create a demo workspace, generate a mailbox of made-up customer email, import it, print the summary."""
    with cli_errors():
        if output.exists():
            shutil.rmtree(output)
        output.mkdir(parents=True)
        mailbox = output / "mailbox.mbox"
        customers = write_mailbox(mailbox, messages)
        accounts_csv, people_csv = write_crm_files(output, customers)
        database = output / "mailtrail.db"
        engine = make_engine(f"sqlite:///{database}")
        upgrade(engine)
        sessions = session_factory(engine)
        with transaction(sessions) as session:
            workspace = create_workspace(session, "demo", [COMPANY_DOMAIN])
            for address in TEAM:
                add_member(session, workspace.id, address)
            load_accounts(session, workspace.id, accounts_csv)
            load_people(session, workspace.id, people_csv)
            # One customer asked never to be recorded: the blacklist keeps their mail out.
            add_entries(session, workspace.id, [customers[-1]], added_by=TEAM[0])
        report = output / "report.jsonl"
        started = time.perf_counter()
        now = datetime.now(UTC)
        with sessions() as session, report.open("w", encoding="utf-8") as handle:
            workspace = find_workspace(session, "demo")
            box = EngagementRepository(session, workspace.id).get_or_create_mailbox(TEAM[0], "file", now)
            summary = ingest_all(
                session, Ingest(workspace.id, box.id), read_incoming([mailbox]), batch_size=100, now=now,
                on_batch=ReportWriter(handle).write,
            )  # fmt: skip
        engine.dispose()
        print_summary(summary, time.perf_counter() - started, dry_run=False, report=report)
        env = f"MAILTRAIL_DATABASE_URL=sqlite:///{database}"
        typer.echo(
            f"\nDemo workspace 'demo' is in {database}\n"
            f"  mailbox:  {mailbox} ({summary.total} emails, made up by the traffic generator)\n"
            f"  accounts: {accounts_csv}    people: {people_csv}\n"
            f"  report:   {report} (one JSON line per email)\n"
            "Try:\n"
            f"  {env} .venv/bin/mailtrail explain {mailbox}\n"
            f"  {env} .venv/bin/mailtrail blacklist list\n"
            f"  {env} .venv/bin/mailtrail import {mailbox} --mailbox {TEAM[0]}   (again: nothing new)"
        )


def write_mailbox(path: Path, count: int) -> list[str]:
    """Write generated mail (no drafts: a mailbox export has none) as an mbox; returns customer addresses."""
    generator = TrafficGenerator(team=TEAM, company_domain=COMPANY_DOMAIN, seed=7, customer_domains=5)
    start = datetime.now(UTC) - timedelta(days=30)
    customers: list[str] = []
    with path.open("wb") as handle:
        for mail in generator.generate(start, count):
            if mail.draft_of is not None:
                continue
            handle.write(
                b"From mailtrail-demo " + mail.sent_at.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n"
            )
            handle.write(mail.raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From "))
            handle.write(b"\n")
            if mail.kind == "customer":
                header = mail.raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
                for line in header.splitlines():
                    if line.lower().startswith("from:"):
                        customers += [
                            a for _, a in getaddresses([line[5:]]) if not a.endswith(COMPANY_DOMAIN)
                        ]
    return list(dict.fromkeys(customers))


def write_crm_files(folder: Path, customers: list[str]) -> tuple[Path, Path]:
    """Accounts for most made-up companies; a few of their customers as people known since long ago."""
    accounts = folder / "accounts.csv"
    accounts.write_text(
        "name,domains,created_at\n"
        + "".join(f"{name},{name.lower()}.example,2020-01-01T00:00:00Z\n" for name in ACCOUNT_COMPANIES),
        encoding="utf-8",
    )
    by_domain = {f"{name.lower()}.example": name for name in ACCOUNT_COMPANIES}
    known = [c for c in customers if c.split("@", 1)[1] in by_domain][:3]
    people = folder / "people.csv"
    people.write_text(
        "external_id,name,emails,accounts,default_account,created_at\n"
        + "".join(
            f"crm-{i},{c.split('@')[0].replace('.', ' ').title()},{c},{by_domain[c.split('@', 1)[1]]},,"
            "2020-01-01T00:00:00Z\n"
            for i, c in enumerate(known, 1)
        ),
        encoding="utf-8",
    )
    return accounts, people
