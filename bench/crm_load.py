"""CRM benchmark: load 10,000 accounts and 100,000 people from CSV, re-load them, and read the snapshot.

Run with ``.venv/bin/python bench/crm_load.py [--people N] [--database-url URL]`` (a fresh SQLite file in a
temporary folder by default). The data is made up here. Baselines, in the same process on the same data:
- load: plain ORM, one ``session.add`` per person with its addresses and accounts (the obvious way), on a
  slice of the file, as rows per second;
- snapshot: loading ``Person`` and ``PersonEmail`` ORM objects and building the same address lookup.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

from mailtrail.crm.accounts.repository import AccountRepository
from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.people.service import load_people
from mailtrail.crm.snapshot import load_snapshot
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import make_engine, session_factory, transaction
from mailtrail.migrate import upgrade
from mailtrail.models import Base, Person, PersonAccount, PersonEmail
from mailtrail.rules.types import PersonRef


def write_files(folder: Path, accounts: int, people: int) -> tuple[Path, Path]:
    accounts_csv, people_csv = folder / "accounts.csv", folder / "people.csv"
    with accounts_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["name", "domains", "created_at"])
        for a in range(accounts):
            writer.writerow([f"Account {a}", f"acct{a}.example;acct{a}.example.org", "2020-01-01T00:00:00Z"])
    with people_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["external_id", "name", "emails", "accounts", "default_account", "created_at"])
        for p in range(people):
            a, b = p % accounts, (p * 7 + 1) % accounts
            emails = f"person{p}@acct{a}.example;p{p}.alt@acct{a}.example.org"
            writer.writerow([f"ext-{p}", f"Person {p}", emails, f"Account {a};Account {b}", "", "2021-01-01"])
    return accounts_csv, people_csv


def timed(label: str, action):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:8.2f} s")
    return result, seconds


def orm_baseline(factory, workspace_id: int, people_csv: Path, rows: int) -> float:  # type: ignore[no-untyped-def]
    """People per second, one ORM object graph per row (into a second workspace)."""
    with transaction(factory) as session:
        other = create_workspace(session, "baseline", [])
        accounts = AccountRepository(session, workspace_id).ids_by_name()
        start = time.perf_counter()
        with people_csv.open(newline="") as handle:
            for i, row in enumerate(csv.DictReader(handle)):
                if i == rows:
                    break
                names = row["accounts"].split(";")
                person = Person(
                    workspace_id=other.id,
                    external_id=row["external_id"],
                    name=row["name"],
                    created_at=datetime.fromisoformat(row["created_at"]).replace(tzinfo=UTC),
                    default_account_id=accounts[names[0]],
                )
                session.add(person)
                session.flush()
                for email in row["emails"].split(";"):
                    session.add(PersonEmail(workspace_id=other.id, person_id=person.id, email=email))
                for name in names:
                    session.add(
                        PersonAccount(workspace_id=other.id, person_id=person.id, account_id=accounts[name])
                    )
        session.flush()
        return rows / (time.perf_counter() - start)


def orm_snapshot(factory, workspace_id: int) -> dict[str, list[PersonRef]]:  # type: ignore[no-untyped-def]
    with factory() as session:
        people = {
            p.id: PersonRef(p.id, p.created_at, p.external_id or f"id:{p.id}", p.default_account_id)
            for p in session.scalars(select(Person).where(Person.workspace_id == workspace_id))
        }
        out: dict[str, list[PersonRef]] = {}
        for e in session.scalars(select(PersonEmail).where(PersonEmail.workspace_id == workspace_id)):
            out.setdefault(e.email, []).append(people[e.person_id])
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        engine = make_engine(url)
        if args.database_url:
            with engine.begin() as conn:
                conn.execute(
                    text(f"DROP TABLE IF EXISTS {', '.join(t.name for t in Base.metadata.sorted_tables)}")
                )
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(engine)
        factory = session_factory(engine)
        accounts_csv, people_csv = write_files(folder, args.accounts, args.people)
        print(
            f"{args.accounts} accounts, {args.people} people (2 addresses, 2 accounts each), "
            f"on {engine.dialect.name}"
        )
        with transaction(factory) as session:
            workspace_id = create_workspace(session, "bench", ["ourco.example"]).id

        def load(path: Path, loader):  # type: ignore[no-untyped-def]
            with transaction(factory) as session:
                return loader(session, workspace_id, path)

        timed("accounts load (create)", lambda: load(accounts_csv, load_accounts))
        _, create_s = timed("people load (create)", lambda: load(people_csv, load_people))
        counts, reload_s = timed("people load again (no change)", lambda: load(people_csv, load_people))
        assert counts.unchanged == args.people, counts
        renamed_csv = folder / "renamed.csv"
        renamed_csv.write_text(people_csv.read_text().replace(",Person ", ",Renamed "))
        counts, update_s = timed("people load (every name changed)", lambda: load(renamed_csv, load_people))
        assert counts.updated == args.people, counts
        with factory() as session:
            snapshot, snap_s = timed("snapshot", lambda: load_snapshot(session, workspace_id))
        baseline_snapshot, orm_snap_s = timed(
            "baseline snapshot (ORM objects)", lambda: orm_snapshot(factory, workspace_id)
        )
        assert baseline_snapshot == snapshot.people_by_address
        assert len(snapshot.account_domains) == 2 * args.accounts
        orm_rate = orm_baseline(factory, workspace_id, people_csv, args.baseline_rows)
        rate = args.people / create_s
        print(
            f"people load: {rate:,.0f} rows/s; baseline ORM per row: {orm_rate:,.0f} rows/s "
            f"-> {rate / orm_rate:.1f}x"
        )
        print(
            f"people re-load: {args.people / reload_s:,.0f} rows/s unchanged, "
            f"{args.people / update_s:,.0f} rows/s updated"
        )
        print(
            f"snapshot: {snap_s:.2f} s; baseline ORM objects: {orm_snap_s:.2f} s "
            f"-> {orm_snap_s / snap_s:.1f}x"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
