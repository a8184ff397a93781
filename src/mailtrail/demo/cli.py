"""`mailtrail demo`: the product live on this machine: two sandbox mailboxes, mailtrail syncing them, every
email reported as it lands, until Ctrl-C."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mailtrail.crm.boundary import cli_errors
from mailtrail.demo.live import GMAIL_USER, MICROSOFT_USER, LiveDemo
from mailtrail.engagements.report import IMPORTED, MERGED, ReportLine
from mailtrail.logs import configure_logging


def demo(
    output: Annotated[
        Path, typer.Option("--output", help="Folder for the demo's database, key and CSV files.")
    ] = Path("demo-output"),
    port: Annotated[int, typer.Option(help="Port for mailtrail (0: any free port).")] = 8000,
    every: Annotated[float, typer.Option(help="Seconds between two new emails.", min=0.1)] = 4.0,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C).")
    ] = None,
) -> None:
    """Run mailtrail live against sandbox Gmail and Microsoft 365 mailboxes and show emails as they land."""
    configure_logging(level="WARNING")
    console = Console(highlight=False)
    counts: Counter[str] = Counter()
    stop = threading.Event()

    def show(mailbox: str, line: ReportLine) -> None:
        counts[line.decision] += 1
        when = line.time.strftime("%d %b %H:%M")
        if line.decision == IMPORTED:
            where = ", ".join(line.accounts) or "no account"
            created = f", new person {', '.join(line.created)}" if line.created else ""
            console.print(f"[green]imported[/] {when}  {mailbox:<24} {where}{created}", soft_wrap=True)
        elif line.decision == MERGED:
            console.print(
                f"[cyan]merged  [/] {when}  {mailbox:<24} seen in another mailbox too", soft_wrap=True
            )
        else:
            console.print(f"[dim]skipped  {when}  {mailbox:<24} {line.reason}[/]", soft_wrap=True)

    live = LiveDemo(output, port=port, every=every, on_line=show)
    with cli_errors():
        console.print("Starting the sandbox (Gmail, Microsoft 365) and mailtrail ...")
        live.start()
    try:
        console.print(
            f"mailtrail is at {live.urls['mailtrail']} (push and OAuth endpoints; the web pages come next).\n"
            f"Connected through the sandbox's consent pages: {GMAIL_USER} (Gmail), {MICROSOFT_USER} "
            f"(Microsoft 365). The last days are imported first, then a new email every {every:g} s.\n"
            f"Workspace data in {output}; Ctrl-C to stop.\n"
        )
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
    database = output / "mailtrail.db"
    skipped = sum(counts.values()) - counts[IMPORTED] - counts[MERGED]
    console.print(
        f"\n{counts[IMPORTED]} imported, {counts[MERGED]} merged, {skipped} skipped. Look around:\n"
        f"  MAILTRAIL_DATABASE_URL=sqlite:///{database} .venv/bin/mailtrail mailbox list\n"
        f"  MAILTRAIL_DATABASE_URL=sqlite:///{database} .venv/bin/mailtrail mailbox status {GMAIL_USER}"
    )
