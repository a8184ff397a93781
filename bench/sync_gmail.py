"""Gmail sync benchmark: 5,000 new messages of one mailbox synced end to end under each Gmail quota profile.

One mailbox of the Gmail sandbox is connected by domain-wide delegation and synced once (empty), then 5,000
messages are delivered to it (mostly customer mail of known accounts, some internal, some from unknown
senders) and the real ``SyncEngine`` syncs them through ``Runtime`` (history.list, batched messages.get,
the rules, the database), on the real clock, with the sandbox enforcing a quota profile and the runtime's
``gmail_quota`` set to the same profile. Per profile it prints messages per second beside the ceiling the
profile allows (the per-user units per second / 5 units per messages.get: default 6,000/60/5 = 20 msg/s,
legacy 250/5 = 50 msg/s; goal: at least 90% of it), over the whole sync and over its whole minutes after the
first (the quota's windows start empty: a head start a sync running for hours does not have), the requests
the sandbox received and refused (its quota counters; goal: under 1%), and the engagements created (must
equal the customer messages). A run with the sandbox's quota off and no budget comes first, as a baseline
of what the engine does alone.

Run: ``.venv/bin/python bench/sync_gmail.py [--messages 5000] [--profile default|legacy] [--no-engine-alone]
[--database-url URL]`` (a fresh SQLite file per run by default; a PostgreSQL database given is emptied, its
``public`` schema dropped). It takes minutes: the quota is per second and per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from _gmail_world import (
    CUSTOMER,
    USER,
    MailMaker,
    connect,
    engagements,
    fresh_database,
    gmail_world,
    make_workspace,
)
from mailtrail.engagements.report import ReportLine
from mailtrail.logs import configure_logging
from mailtrail.models import Mailbox
from mailtrail.sandbox.quota import GMAIL_QUOTA_PROFILES, QuotaCounters, QuotaLimiter, QuotaPolicy
from mailtrail.sync.budget import Budgets, Limit
from mailtrail.sync.engine import ACTIVE, BACKING_OFF
from mailtrail.sync.runtime import (
    ARRIVAL_ALLOWANCE,
    GMAIL_BATCH,
    GMAIL_BATCH_BY_QUOTA,
    GMAIL_USER_LIMITS,
    Runtime,
)

MESSAGES_GET_UNITS = 5
ENGINE_ALONE = "engine alone"
MARGIN = inspect.signature(Budgets).parameters["margin"].default
# The steady rate counts whole minutes after the first: the quota's windows start empty (a head start a sync
# running for hours does not have), and a minute's room comes back in a burst when the last one's slides out.
MINUTE = 60.0


class _Unbudgeted(Runtime):
    """The runtime without its shared budgets (the engine-alone baseline: the sandbox enforces nothing)."""

    def spender(self, budgets: dict[str, tuple[Limit, ...]], what: str) -> Callable[[int], Awaitable[None]]:
        async def spend(_units: int) -> None:
            return None

        return spend


@dataclass
class Outcome:
    name: str
    messages: int
    seconds: float
    ceiling: float | None
    counters: QuotaCounters
    engagements: int
    customers: int
    decisions: Counter[str]
    throttles: int
    # (seconds since the sync started, messages synced by then) after each committed page
    timeline: list[tuple[float, int]]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def steady(self) -> float | None:
        """Messages per second over the whole minutes after the first (None before the sync lasted two)."""
        minutes = int(self.seconds // MINUTE)
        if minutes < 2:
            return None

        def done_by(moment: float) -> int:
            return max((done for at, done in self.timeline if at <= moment), default=0)

        end = minutes * MINUTE
        return (done_by(end) - done_by(MINUTE)) / (end - MINUTE)


def ceiling_of(policy: QuotaPolicy) -> float:
    """Messages per second the tightest per-user limit allows at 5 units a message."""
    return min(limit.units / limit.window for limit in policy.per_key) / MESSAGES_GET_UNITS


def delta(after: QuotaCounters, before: QuotaCounters) -> QuotaCounters:
    methods = {m: n - before.by_method.get(m, 0) for m, n in after.by_method.items()}
    return QuotaCounters(
        requests=after.requests - before.requests,
        units=after.units - before.units,
        rejected=after.rejected - before.rejected,
        rejected_concurrent=after.rejected_concurrent - before.rejected_concurrent,
        peak_concurrent=after.peak_concurrent,
        by_method={m: n for m, n in methods.items() if n},
    )


def run(name: str, args: argparse.Namespace, folder: Path) -> Outcome:
    policy = GMAIL_QUOTA_PROFILES.get(name)
    sandbox_policy = policy if policy is not None else GMAIL_QUOTA_PROFILES["default"].disabled()
    with gmail_world(sandbox_policy) as world:
        url = fresh_database(args.database_url, folder)
        settings = world.settings(url, gmail_quota=name if policy is not None else "default")
        factory = Runtime.from_settings if policy is not None else _Unbudgeted.from_settings
        runtime = factory(settings, url)
        try:
            crm = make_workspace(runtime, folder)
            mailbox_id = connect(runtime, crm, world.key)
            if asyncio.run(runtime.engine.sync(mailbox_id)) != ACTIVE:
                raise SystemExit("the first (empty) sync did not succeed")
            started = time.perf_counter()
            maker = MailMaker(crm, tag=name.replace(" ", "-"))
            kinds: Counter[str] = Counter()
            for _ in range(args.messages):
                mail = maker.next()
                world.tenant.deliver(mail.raw)
                kinds[mail.kind] += 1
            print(
                f"  {args.messages} messages delivered in {time.perf_counter() - started:.1f} s "
                f"({', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))}); syncing",
                flush=True,
            )
            limiter = world.sandbox.limiter
            before, engaged = limiter.counters(USER), engagements(runtime, crm.workspace_id)
            synced = asyncio.run(sync_all(runtime, mailbox_id, args, limiter))
            counters = delta(limiter.counters(USER), before)
            created = engagements(runtime, crm.workspace_id) - engaged
        finally:
            runtime.database.dispose()
    decisions, seconds, throttles, timeline = synced
    ceiling = ceiling_of(policy) if policy is not None else None
    return Outcome(
        name, sum(decisions.values()), seconds, ceiling, counters, created, kinds[CUSTOMER], decisions,
        throttles, timeline,
    )  # fmt: skip


async def sync_all(
    runtime: Runtime, mailbox_id: int, args: argparse.Namespace, limiter: QuotaLimiter
) -> tuple[Counter[str], float, int, list[tuple[float, int]]]:
    """Sync until the mailbox is caught up, backing off as the dispatcher would; prints progress."""
    decisions: Counter[str] = Counter()
    timeline: list[tuple[float, int]] = []
    started = time.perf_counter()
    last = [started]

    def observe(_box: int, lines: list[ReportLine]) -> None:
        decisions.update(f"{line.decision}/{line.reason}" for line in lines)
        now = time.perf_counter()
        done, elapsed = sum(decisions.values()), now - started
        timeline.append((elapsed, done))
        if now - last[0] >= args.progress:
            last[0] = now
            refused = limiter.counters(USER).rejected
            print(
                f"  {elapsed:6.1f} s: {done:>5}/{args.messages} messages, {done / elapsed:5.1f} msg/s, "
                f"refused so far {refused}",
                flush=True,
            )

    runtime.engine.observers.append(observe)
    throttles = 0
    try:
        while True:
            status = await runtime.engine.sync(mailbox_id)
            if status == ACTIVE:
                break
            with runtime.sessions() as session:
                mailbox = session.get_one(Mailbox, mailbox_id)
                until, reason = mailbox.backoff_until, mailbox.backoff_reason
            if status != BACKING_OFF or until is None:
                raise SystemExit(f"the sync stopped: {status} ({mailbox.last_error})")
            throttles += 1
            wait = max((until - runtime.clock()).total_seconds(), 0.0)
            print(f"  backing off {wait:.1f} s: {reason}", flush=True)
            await asyncio.sleep(wait)
    finally:
        runtime.engine.observers.remove(observe)
    return decisions, time.perf_counter() - started, throttles, timeline


def report(outcome: Outcome) -> None:
    c = outcome.counters
    o = outcome
    head = f"{o.name}: {o.messages} messages in {o.seconds:.1f} s = {o.rate:.2f} msg/s"
    steady = outcome.steady
    if outcome.ceiling is None:
        print(f"{head}: the engine's own speed, no quota")
    else:
        ratios = [outcome.rate / outcome.ceiling]
        text = f"{head} = {ratios[0]:.1%} of the ceiling {outcome.ceiling:.0f} msg/s"
        if steady is not None:
            ratios.append(steady / outcome.ceiling)
            text += f"; in the minutes after the first {steady:.2f} msg/s = {ratios[1]:.1%}"
        print(f"{text} (goal >= 90%: {'ok' if min(ratios) >= 0.9 else 'MISSED'})")
    sent = c.requests + c.rejected
    share = c.rejected / sent if sent else 0.0
    methods = ", ".join(f"{m} {n}" for m, n in sorted(c.by_method.items()))
    print(
        f"  requests sent {sent}, refused by the sandbox {c.rejected} = {share:.2%} (goal < 1%: "
        f"{'ok' if share < 0.01 else 'MISSED'}; {c.rejected_concurrent} for concurrency); "
        f"admitted: {methods}; {c.units} units"
    )
    same = "ok" if outcome.engagements == outcome.customers else "MISMATCH"
    outcomes = ", ".join(f"{k} {n}" for k, n in sorted(outcome.decisions.items()))
    print(
        f"  engagements created {outcome.engagements} for {outcome.customers} customer messages: {same} "
        f"({outcomes}); throttled {outcome.throttles} times"
    )


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--messages", type=int, default=5_000, help="messages delivered, then synced (5000)")
    parser.add_argument(
        "--profile", choices=sorted(GMAIL_QUOTA_PROFILES), help="one profile (default: default, then legacy)"
    )
    parser.add_argument(
        "--engine-alone",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first sync once with no quota and no budget, as a baseline (default: yes)",
    )
    parser.add_argument("--database-url", help="PostgreSQL, emptied for each run (default: SQLite files)")
    parser.add_argument("--progress", type=float, default=15.0, help="seconds between progress lines (15)")
    args = parser.parse_args()
    configure_logging("WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    profiles = [args.profile] if args.profile else ["default", "legacy"]
    names = ([ENGINE_ALONE] if args.engine_alone else []) + profiles
    budgets = "; ".join(
        f"{p} {', '.join(f'{x.units}/{x.seconds:g} s' for x in GMAIL_USER_LIMITS[p])} "
        f"in batches of {GMAIL_BATCH_BY_QUOTA.get(p, GMAIL_BATCH)}"
        for p in profiles
    )
    database = "PostgreSQL (--database-url)" if args.database_url else "SQLite file"
    print(
        f"sync_gmail: {args.messages} messages into 1 mailbox; runs: {', '.join(names)}; runtime budgets "
        f"(margin {MARGIN:g}, +{ARRIVAL_ALLOWANCE * 1000:g} ms a window): {budgets}; {database}; "
        "real clock",
        flush=True,
    )
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(f"[{name}]", flush=True)
            outcome = run(name, args, Path(tmp))
            report(outcome)
            outcomes.append(outcome)
    print("summary:")
    for o in outcomes:
        if o.ceiling:
            steady = f", {o.steady / o.ceiling:.0%} after minute 1" if o.steady is not None else ""
            ceiling = f"ceiling {o.ceiling:.0f} msg/s: {o.rate / o.ceiling:.0%}{steady}"
        else:
            ceiling = "no quota"
        sent = o.counters.requests + o.counters.rejected
        print(
            f"  {o.name:<13} {o.messages:>5} msgs {o.seconds:7.1f} s {o.rate:7.2f} msg/s  {ceiling:<38} "
            f"refused {o.counters.rejected}/{sent}  engagements {o.engagements}/{o.customers}"
        )


if __name__ == "__main__":
    main()
