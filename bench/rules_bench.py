"""Rules benchmark: decisions per second against a workspace of 100,000 people and 10,000 accounts.

Everything is synthetic and generated here (made-up addresses under ``.example``). The baseline, measured in
the same run, is a naive classifier that follows the same contract with linear scans over the same data (on a
small sample, it is slow); the cost of merely constructing the ParsedEmail objects is printed for scale.

Run: ``.venv/bin/python bench/rules_bench.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailtrail.mail.parsed import Address, ParsedEmail, ProviderFlags
from mailtrail.rules.addresses import domain_of, is_role_address
from mailtrail.rules.decide import decide
from mailtrail.rules.links import plan_links
from mailtrail.rules.types import PersonRef, Settings, WorkspaceSnapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)
COMPANY = "ourco.example"
FIRST = [
    "ann",
    "bob",
    "chen",
    "dana",
    "eli",
    "fatima",
    "gus",
    "hana",
    "ivan",
    "jo",
    "kai",
    "lena",
    "mo",
    "nia",
]
LAST = ["lee", "smith", "garcia", "kim", "nguyen", "okafor", "rossi", "silva", "weber", "yilmaz"]
ROLE = ["noreply", "no-reply", "notifications", "bounce-4711", "postmaster"]


@dataclass
class Workspace:
    """The snapshot, and the same data as plain lists for the naive baseline."""

    snapshot: WorkspaceSnapshot
    people: list[tuple[str, PersonRef]]
    accounts: list[tuple[str, int, datetime]]
    team: list[str]
    blacklist: list[str]
    customer_addresses: list[str]
    account_domains: list[str]


def build_workspace(people: int, accounts: int, rng: random.Random) -> Workspace:
    """Accounts with one or two domains, people at their domains (a few share an address), team, blacklist."""
    snapshot = WorkspaceSnapshot(company_domains=frozenset({COMPANY}), settings=Settings())
    account_rows: list[tuple[str, int, datetime]] = []
    for account_id in range(1, accounts + 1):
        added = NOW - timedelta(days=rng.randint(30, 1500))
        for n in range(1 if account_id % 5 else 2):
            domain = f"customer{account_id}{'-eu' if n else ''}.example"
            snapshot.account_domains[domain] = (account_id, added)
            account_rows.append((domain, account_id, added))
    domains = [row[0] for row in account_rows]
    people_rows: list[tuple[str, PersonRef]] = []
    addresses: list[str] = []
    for person_id in range(1, people + 1):
        domain = rng.choice(domains)
        address = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{person_id}@{domain}"
        # One person in fifty shares an address with an earlier person (a shared inbox, a duplicate record).
        if addresses and person_id % 50 == 0:
            address = rng.choice(addresses)
        created = NOW - timedelta(days=rng.randint(0, 1400), seconds=rng.randint(0, 86400))
        ref = PersonRef(
            person_id, created, f"ext-{person_id}", snapshot.account_domains[domain_of(address)][0]
        )
        snapshot.people_by_address.setdefault(address, []).append(ref)
        people_rows.append((address, ref))
        addresses.append(address)
    team = [f"{first}@{COMPANY}" for first in FIRST] + [f"{first}.home@mail.example" for first in FIRST[:5]]
    snapshot.team_addresses = {address: i for i, address in enumerate(team, 1)}
    blacklist = [f"news{i}.example" for i in range(100)] + [f"*.bulk{i}.example" for i in range(50)]
    blacklist += [rng.choice(addresses) for _ in range(50)]
    snapshot.blacklist = frozenset(blacklist)
    snapshot.tombstones = {f"<deleted{i}@mail.example>" for i in range(1000)}
    return Workspace(snapshot, people_rows, account_rows, team, blacklist, addresses, domains)


def make_emails(ws: Workspace, count: int, rng: random.Random) -> list[ParsedEmail]:
    """A realistic mix: customer threads, new contacts, internal mail, newsletters, blacklisted senders."""

    def customer() -> Address:
        return Address(rng.choice(ws.customer_addresses), "Customer")

    def newcomer() -> Address:
        return Address(
            f"{rng.choice(FIRST)}.new{rng.randint(1, 10**6)}@{rng.choice(ws.account_domains)}", "New"
        )

    def internal() -> Address:
        return Address(rng.choice(ws.team))

    def unknown() -> Address:
        return Address(f"{rng.choice(FIRST)}{rng.randint(1, 10**6)}@gmail-{rng.randint(1, 99)}.example")

    def blacklisted() -> Address:
        return Address(f"promo@{rng.choice(['news', 'x.bulk'])}{rng.randint(0, 49)}.example")

    def role() -> Address:
        return Address(f"{rng.choice(ROLE)}@{rng.choice(ws.account_domains)}")

    kinds: list[tuple[int, Callable[[], Address], Callable[[], Address]]] = [
        (35, customer, internal),  # a customer writes to us
        (25, internal, customer),  # we write to a customer
        (10, newcomer, internal),  # a new contact at a customer's domain
        (12, internal, internal),  # internal mail
        (8, unknown, internal),  # newsletters, strangers
        (5, blacklisted, internal),
        (5, role, internal),
    ]
    weights = [k[0] for k in kinds]
    out: list[ParsedEmail] = []
    for i in range(count):
        _, sender, recipient = rng.choices(kinds, weights)[0]
        to = tuple(recipient() for _ in range(rng.randint(1, 3)))
        cc = tuple(rng.choice((customer, internal, unknown))() for _ in range(rng.randint(0, 2)))
        when = NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 400)) if rng.random() > 0.02 else None
        flags = ProviderFlags(spam=True) if rng.random() < 0.02 else ProviderFlags()
        key = f"<m{i}@mail.example>" if rng.random() > 0.01 else f"<deleted{i % 1000}@mail.example>"
        out.append(ParsedEmail(key=key, time=when, sender=sender(), to=to, cc=cc, flags=flags))
    return out


def naive_class(a: str, ws: Workspace, t: datetime) -> str:
    """One address's class, the obvious way: scan every list."""
    d = domain_of(a)
    if any(e in (a, d) or (e.startswith("*.") and (d == e[2:] or d.endswith(e[1:]))) for e in ws.blacklist):
        return "blacklisted"
    if d == COMPANY or a in ws.team:
        return "internal"
    if any(pa == a and ref.created_at <= t for pa, ref in ws.people):
        return "person"
    if any(ad == d and added <= t for ad, _, added in ws.accounts) and not is_role_address(a):
        return "creatable"
    return "unknown"


def naive_reason(email: ParsedEmail, ws: Workspace, now: datetime) -> str:
    """The same contract (the flags the bench sets, rules 1-6), written the obvious way."""
    t = email.time or now
    if email.flags.spam:
        return "spam"
    sender = naive_class(email.sender.address, ws, t) if email.sender else None
    recipients = [naive_class(a.address, ws, t) for _, a in email.recipients()]
    everyone = ([sender] if sender else []) + recipients
    if "blacklisted" in everyone:
        return "blacklisted"
    if sender == "internal" and all(c == "internal" for c in recipients):
        return "internal"
    if sender in (None, "unknown"):
        return "unknown_sender"
    if all(c == "unknown" for c in recipients):
        return "unknown_recipients"
    if not {"person", "creatable"} & set(everyone):
        return "no_customer"
    return "deleted" if email.key in ws.snapshot.tombstones else "ok"


@dataclass
class Rate:
    """Items per second over all passes, and in the fastest pass."""

    average: float
    best: float
    items: int
    passes: int

    def __str__(self) -> str:
        counts = f"{self.passes} passes, {self.items:,}"
        return f"best pass {self.best:,.0f}/s, average {self.average:,.0f}/s ({counts})"


def measure(work: Callable[[], int], min_seconds: float) -> Rate:
    """Time passes of ``work`` (which returns how many items it did) for at least ``min_seconds``, wall clock.

    The best pass is the figure to compare (as ``timeit`` takes the minimum): on a shared machine the slower
    passes measure the neighbours. The average is printed beside it so nobody is misled.
    """
    done, passes, best, start = 0, 0, 0.0, time.perf_counter()
    while True:
        pass_start = time.perf_counter()
        items = work()
        now = time.perf_counter()
        done, passes, best = done + items, passes + 1, max(best, items / (now - pass_start))
        if now - start >= min_seconds:
            return Rate(done / (now - start), best, done, passes)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Build the workspace, time the rules and the baselines, print the figures; returns them too.

    ``argv`` are this benchmark's own options (none: the defaults), so another script can call ``main()``.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--naive-sample", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="minimum time per measurement")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv or [])
    rng = random.Random(args.seed)

    started = time.perf_counter()
    ws = build_workspace(args.people, args.accounts, rng)
    emails = make_emails(ws, args.emails, rng)
    print(
        f"workspace: {len(ws.people):,} people, {args.accounts:,} accounts ({len(ws.accounts):,} domains), "
        f"{len(ws.blacklist)} blacklist entries; {len(emails):,} emails; built in "
        f"{time.perf_counter() - started:.1f}s"
    )

    snapshot = ws.snapshot
    reasons: dict[str, int] = {}
    for email in emails:
        reason = decide(email, snapshot, NOW).reason.value
        reasons[reason] = reasons.get(reason, 0) + 1
    print(
        "mix: "
        + ", ".join(f"{k} {v / len(emails):.0%}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1]))
    )
    sample = emails[: args.naive_sample]
    mismatches = sum(naive_reason(e, ws, NOW) != decide(e, snapshot, NOW).reason.value for e in sample)

    def rules_pass() -> int:
        # Each pass is a fresh import: nothing remembered from the previous pass (per-address facts).
        snapshot.reset_lookups()
        for email in emails:
            decision = decide(email, snapshot, NOW)
            if decision.imported:
                plan_links(decision, snapshot)
        return len(emails)

    def naive_pass() -> int:
        for email in sample:
            naive_reason(email, ws, NOW)
        return len(sample)

    def construct_pass() -> int:
        for e in emails:
            ParsedEmail(key=e.key, time=e.time, sender=e.sender, to=e.to, cc=e.cc, flags=e.flags)
        return len(emails)

    rules = measure(rules_pass, args.seconds)
    naive = measure(naive_pass, args.seconds)
    construct = measure(construct_pass, args.seconds)
    print(f"rules, decide + plan_links for imported emails (decisions): {rules}")
    print(
        f"baseline, naive linear-scan classifier on {len(sample)} of the same emails: {naive} "
        f"({mismatches} disagreements with decide)"
    )
    print(
        f"ratio rules / naive: {rules.best / naive.best:,.0f}x best pass, "
        f"{rules.average / naive.average:,.0f}x average"
    )
    print(
        f"for scale, constructing the ParsedEmail objects alone: {construct} "
        f"(a decision costs {construct.best / rules.best:.0f}x a construction)"
    )
    verdict = "met" if rules.best >= 50_000 else "NOT met"
    print(f"goal 50,000 decisions/s (best pass): {verdict}; average {rules.average:,.0f}/s")
    return {"rules_best": rules.best, "rules_average": rules.average, "naive_best": naive.best}


if __name__ == "__main__":
    main(sys.argv[1:])
