"""Import benchmark: the whole Enron corpus through mailtrail, against a naive parse of the same files.

Run with ``make bench``. The tarball is extracted to a temporary folder first (not timed). Each phase runs in
its own process so that its peak memory is its own:

- baseline: ``BytesParser(policy=default)`` over every file, reading From/To/Cc/Bcc addresses and the body
  (``parse_bench.naive``);
- import: a fresh SQLite database with a workspace of a few dozen accounts and a few hundred people (the
  external domains and addresses that occur most in the corpus), then the ingest service over the folder,
  committing each batch, exactly as ``mailtrail import`` does.

Then the rules benchmark (``bench/rules_bench.py``) runs. Goals (issue 2): import at least 10x the naive
rate, import peak RSS under 300 MB, rules at least 50,000 decisions/s.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpora" / "enron-inbox.tar.xz"
COMPANY_DOMAIN = "enron.com"
ACCOUNTS = 40
PEOPLE = 400


def corpus_files(root: Path) -> list[Path]:
    from mailtrail.providers.files.reader import read_emails

    return [Path(e.path) for e in read_emails([root])]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_baseline(root: Path) -> dict[str, float]:
    from parse_bench import naive

    files = corpus_files(root)
    started = time.perf_counter()
    for path in files:
        naive(path.read_bytes())
    elapsed = time.perf_counter() - started
    return {"messages": len(files), "seconds": elapsed, "rate": len(files) / elapsed, "rss_mb": peak_rss_mb()}


def workspace_csvs(root: Path, out: Path) -> tuple[Path, Path]:
    """Accounts for the most frequent external sender domains, people for their most frequent addresses."""
    from mailtrail.mail.rfc822 import parse_message
    from mailtrail.providers.files.reader import read_emails

    addresses: Counter[str] = Counter()
    for raw in read_emails([root]):
        email = parse_message(raw.data)
        for addr in [email.sender, *email.to, *email.cc]:
            if addr is not None and not addr.address.endswith("@" + COMPANY_DOMAIN):
                addresses[addr.address] += 1
    domains = Counter(a.rsplit("@", 1)[1] for a in addresses.elements())
    chosen = [d for d, _ in domains.most_common(ACCOUNTS)]
    accounts = out / "accounts.csv"
    accounts.write_text(
        "name,domains,created_at\n"
        + "".join(f"Account {i} ({d}),{d},1990-01-01T00:00:00Z\n" for i, d in enumerate(chosen))
    )
    owner = {d: f"Account {i} ({d})" for i, d in enumerate(chosen)}
    people = [a for a, _ in addresses.most_common() if a.rsplit("@", 1)[1] in owner][:PEOPLE]
    people_csv = out / "people.csv"
    people_csv.write_text(
        "external_id,name,emails,accounts,default_account,created_at\n"
        + "".join(
            f"p{i},Person {i},{a},{owner[a.rsplit('@', 1)[1]]},,1995-01-01T00:00:00Z\n"
            for i, a in enumerate(people)
        )
    )
    return accounts, people_csv


def phase_import(root: Path, workdir: Path) -> dict[str, float]:
    from typer.testing import CliRunner

    from mailtrail.cli import app
    from mailtrail.config import get_settings
    from mailtrail.db import make_engine, session_factory
    from mailtrail.engagements.ingest import Ingest, ingest_all
    from mailtrail.engagements.repository import EngagementRepository
    from mailtrail.models import Workspace
    from mailtrail.providers.files.reader import read_incoming

    url = f"sqlite:///{workdir / 'bench.db'}"
    env = {"MAILTRAIL_DATABASE_URL": url}
    accounts, people = workspace_csvs(root, workdir)
    runner = CliRunner()
    for args in (
        ["init", "--workspace", "bench", "--company-domain", COMPANY_DOMAIN],
        ["accounts", "load", str(accounts)],
        ["people", "load", str(people)],
    ):
        result = runner.invoke(app, args, env=env)
        if result.exit_code != 0:
            raise SystemExit(f"setup failed: mailtrail {' '.join(args)}: {result.output}")
    engine = make_engine(url)
    sessions = session_factory(engine)
    batch_size = get_settings().import_batch_size
    started = time.perf_counter()
    now = datetime.now(UTC)
    with sessions() as session:
        workspace = session.query(Workspace).filter_by(name="bench").one()
        box = EngagementRepository(session, workspace.id).get_or_create_mailbox(
            "bench-mailbox@enron.com", "file", now
        )
        ingest = Ingest(workspace.id, box.id)
        summary = ingest_all(session, ingest, read_incoming([root]), batch_size=batch_size, now=now)
    elapsed = time.perf_counter() - started
    return {
        "messages": summary.total,
        "seconds": elapsed,
        "rate": summary.total / elapsed,
        "rss_mb": peak_rss_mb(),
        "imported": summary.count("imported"),
        "merged": summary.count("merged"),
        "skipped": summary.count("skipped"),
        "people_created": summary.people_created,
    }


def run_phase(name: str, root: Path, workdir: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--root", str(root), "--workdir", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def describe(label: str, figures: dict[str, float]) -> str:
    return (
        f"{label}: {figures['messages']:.0f} messages in {figures['seconds']:.1f} s = "
        f"{figures['rate']:,.0f} messages/s, peak RSS {figures['rss_mb']:.0f} MB"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mailtrail-bench-") as tmp:
        root = Path(tmp) / "corpus"
        print(f"extracting {CORPUS.name} ...", flush=True)
        with tarfile.open(CORPUS, "r:xz") as tar:
            tar.extractall(root, filter="data")
        baseline = run_phase("baseline", root, Path(tmp))
        print(describe("baseline  naive BytesParser(policy=default)", baseline), flush=True)
        result = run_phase("import", root, Path(tmp))
        print(describe("import    mailtrail end-to-end to SQLite   ", result), flush=True)
        print(
            f"          {result['imported']:.0f} imported, {result['merged']:.0f} merged, "
            f"{result['skipped']:.0f} skipped, {result['people_created']:.0f} people created"
        )
        ratio = result["rate"] / baseline["rate"]
        print(
            f"ratio     import / naive parse = {ratio:.1f}x (goal >= 10x); import peak RSS goal < 300 MB",
            flush=True,
        )
    import rules_bench

    rules_bench.main()


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--phase", choices=["baseline", "import"])
    cli.add_argument("--root", type=Path)
    cli.add_argument("--workdir", type=Path)
    args = cli.parse_args()
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(args.root)))
    elif args.phase == "import":
        print(json.dumps(phase_import(args.root, args.workdir)))
    else:
        main()
