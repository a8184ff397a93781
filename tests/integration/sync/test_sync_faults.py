"""Issue 7: whatever goes wrong while a Gmail mailbox syncs, it ends with exactly the engagements of a run
where nothing went wrong, and while it is wrong the mailbox's status says so in words.

Each test plays the same mail (``mail(n)``: customers of Acme, new people at Acme, internal mail, strangers,
mail to Dan and Eve both; some of it arriving during the first sync and some after it) into a World with a
fault, and compares what users see (engagements with their sources, people and accounts; the people created;
the counts of what was looked at) with a fault-free run of the same mail. The fault-free runs are played once
per module on a SQLite file of their own, so on ``--postgres`` a faulty PostgreSQL run is compared with a
fault-free SQLite one.

What users of other sync engines meet, and where each is shown impossible here:

- stuck "importing" forever with no error: every failed sync leaves words and a time to try again, and the
  dispatcher takes the mailbox up again then (``sync_until_active``); a killed worker's sync is called
  "stalled" and is due again (``test_a_worker_killed_mid_batch...``);
- "synced" while mail is missing, and duplicates: every test compares with the fault-free run;
- a backlog that hits the rate limit and never resumes, a throttle treated as fatal:
  ``test_a_throttle_that_lasts...``;
- an expired history id ending in an error loop or a silent gap: ``test_an_expired_history_id...``,
  ``test_when_history_expires_on_every_sync...``;
- a token that dies silently, a reconnect that does not work, downtime never back-filled:
  ``test_a_revoked_grant...``;
- deleted engagements that come back: ``test_a_deleted_engagement_stays_deleted...``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.sync.conftest import DAN, EVE, World, make_world, message

from mailtrail.db import transaction
from mailtrail.engagements.service import delete_engagement
from mailtrail.models import (
    Account,
    Credential,
    Engagement,
    EngagementAccount,
    EngagementPerson,
    EngagementSource,
    ImportCount,
    Mailbox,
    MailboxEvent,
    Person,
    PersonAccount,
    PersonEmail,
    utcnow,
)
from mailtrail.providers.gmail.auth import GMAIL_READONLY
from mailtrail.providers.gmail.retry import RetryPolicy
from mailtrail.sandbox.clock import SystemClock
from mailtrail.sandbox.faults import Fault, FaultPlan
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant
from mailtrail.sync import mailboxes
from mailtrail.sync.engine import ACTIVE, BACKING_OFF, NEEDS_REAUTH, STOPPED, SYNCABLE, SyncPolicy
from mailtrail.sync.repository import due_mailboxes
from mailtrail.sync.runtime import GMAIL_BATCH
from mailtrail.sync.status import MailboxStatus, describe

ANN = "Ann Lee <ann@acme.com>"
# New people at Acme (created by the import); Gus writes only after the first sync.
NEW_PEOPLE = ("Bob Stone <bob@acme.com>", "Cleo Park <cleo@acme.com>", "Drew Hill <drew@acme.com>")
GUS = "Gus Ray <gus@acme.com>"
# The mail of the team's scenario: before the first sync, while Dan's first sync runs, after it.
BEFORE, DURING, AFTER = range(0, 40), range(40, 50), range(50, 62)
# Dan's mail for a listing of two pages: 180 of these 240 reach Dan.
BACKLOG = range(0, 240)
# The connector lists 100 messages a page (one batch of the engine: one transaction with its cursor).
LISTING_PAGE = 100
# Every Gmail API route, the batch endpoint and the requests inside a batch (messages.get).
API = r"^/(?:gmail/v1/users/|batch/gmail/v1$)"
# The requests a sync sends itself (profile, listing, history, the batch), not those inside a batch.
REQUESTS = r"^/gmail/v1/users/[^/]+/(?:profile|messages|history)$|^/batch/gmail/v1$"
# The batch endpoint alone.
BATCH = r"^/batch/gmail/v1$"
# The requests inside a batch: messages.get (the connector sends it in batches only).
PARTS = r"^/gmail/v1/users/[^/]+/messages/[^/]+$"
# Retries of one request within a sync: one, after a millisecond (Google's advice is 5 growing to 32 s).
# So a fault often outlasts the client's retries and the sync itself fails, which is what these tests are
# about; waits that matter are the engine's back-offs, on the shared manual clock.
QUICK = RetryPolicy(attempts=1, base_delay=0.001, max_delay=0.01, throttle_delay=60.0)
POLICY = SyncPolicy()
IMPORTED_OK = ("imported", "ok")

Engaged = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
Created = tuple[str, tuple[str, ...], tuple[str, ...], str]


def mail(n: int) -> bytes:
    """Message number ``n`` of the scenario (Message-ID ``<m{n}@test>``); eight kinds in turn."""
    new = NEW_PEOPLE[n // 8 % len(NEW_PEOPLE)] if n < AFTER.start else GUS
    kind = n % 8
    if kind == 0:
        return message(n, ANN, DAN)  # a customer writes to Dan
    if kind == 1:
        return message(n, ANN, DAN, cc=EVE)  # ... to Dan and Eve: one engagement, two sources
    if kind == 2:
        return message(n, DAN, new)  # Dan writes to someone new at Acme: a person is created
    if kind == 3:
        return message(n, DAN, EVE)  # internal
    if kind == 4:
        return message(n, f"x{n}@globex.example", DAN)  # a stranger
    if kind == 5:
        return message(n, new, EVE, cc=DAN)  # someone new writes to both
    if kind == 6:
        return message(n, "noreply@acme.com", EVE)  # a role address: nobody is created
    return message(n, ANN, EVE, cc="friend@globex.example")  # a customer, and a stranger in copy


def deliver(tenant: Tenant, numbers: Iterable[int]) -> None:
    for n in numbers:
        tenant.deliver(mail(n))


# ---- what users see ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a run left in the database, by addresses and names (ids differ between databases)."""

    # (message key, source mailboxes, people's addresses, accounts), sorted: a duplicate would show.
    engagements: tuple[Engaged, ...]
    # People the imports created: (name, addresses, accounts, default account), sorted.
    people: tuple[Created, ...]
    # Per mailbox: emails looked at by (decision, reason), as `mailtrail mailbox status` shows them.
    counts: dict[str, dict[tuple[str, str], int]]

    def totals(self) -> Counter[tuple[str, str]]:
        """The counts of all mailboxes together."""
        total: Counter[tuple[str, str]] = Counter()
        for counts in self.counts.values():
            total.update(counts)
        return total

    def without(self, key: str) -> tuple[Engaged, ...]:
        return tuple(e for e in self.engagements if e[0] != key)


def seen(sessions: sessionmaker[Session]) -> Seen:
    with sessions() as session:
        boxes = dict(session.execute(select(Mailbox.id, Mailbox.address)).all())
        accounts = dict(session.execute(select(Account.id, Account.name)).all())
        sources, people, linked = defaultdict(list), defaultdict(list), defaultdict(list)
        for engagement_id, mailbox_id in session.execute(
            select(EngagementSource.engagement_id, EngagementSource.mailbox_id)
        ):
            sources[engagement_id].append(boxes[mailbox_id])
        for engagement_id, address in session.execute(
            select(EngagementPerson.engagement_id, EngagementPerson.address)
        ):
            people[engagement_id].append(address)
        for engagement_id, account_id in session.execute(
            select(EngagementAccount.engagement_id, EngagementAccount.account_id)
        ):
            linked[engagement_id].append(accounts[account_id])
        engagements = sorted(
            (key, tuple(sorted(sources[i])), tuple(sorted(people[i])), tuple(sorted(linked[i])))
            for i, key in session.execute(select(Engagement.id, Engagement.message_key))
        )
        emails, memberships = defaultdict(list), defaultdict(list)
        for person_id, email in session.execute(select(PersonEmail.person_id, PersonEmail.email)):
            emails[person_id].append(email)
        for person_id, account_id in session.execute(
            select(PersonAccount.person_id, PersonAccount.account_id)
        ):
            memberships[person_id].append(accounts[account_id])
        created = sorted(
            (name or "", tuple(sorted(emails[i])), tuple(sorted(memberships[i])), accounts.get(default, ""))
            for i, name, default in session.execute(
                select(Person.id, Person.name, Person.default_account_id).where(Person.source == "email")
            )
        )
        counts: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        by_outcome = (ImportCount.mailbox_id, ImportCount.decision, ImportCount.reason)
        for mailbox_id, decision, reason, n in session.execute(
            select(*by_outcome, func.sum(ImportCount.count)).group_by(*by_outcome)
        ):
            counts[boxes[mailbox_id]][(decision, reason)] = int(n)
    return Seen(tuple(engagements), tuple(created), dict(counts))


# ---- driving syncs as the dispatcher would -----------------------------------------------------------------


def sync_until_active(world: World, mailbox_id: int, attempts: int = 40) -> list[MailboxStatus]:
    """Sync as the dispatcher would, until the mailbox is active: each time it is due (it must be, once its
    back-off is over: nothing waits forever), then, after a failure, the clock moves to the end of its
    back-off. Returns the status after each failed sync, as people saw it then."""
    troubles: list[MailboxStatus] = []
    for _ in range(attempts):
        assert mailbox_id in world.runtime.dispatcher.due_syncs(), describe(
            world.mailbox(mailbox_id), now(world)
        )
        if world.sync(mailbox_id) == ACTIVE:
            return troubles
        mailbox = world.mailbox(mailbox_id)
        status = describe(mailbox, now(world))
        troubles.append(status)
        assert mailbox.status in SYNCABLE, status  # a fault of the provider never needs a person here
        assert mailbox.backoff_until is not None, status
        assert mailbox.backoff_until > now(world), status
        # Not due before its back-off ends, and the engine leaves it alone if asked anyway.
        assert mailbox_id not in world.runtime.dispatcher.due_syncs()
        assert world.sync(mailbox_id) is None
        world.clock.set(mailbox.backoff_until)
    raise AssertionError(f"not active after {attempts} syncs: {troubles[-3:]}")


def now(world: World) -> datetime:
    return world.clock.now()


def after_first_batch(world: World, mailbox_id: int, action: Callable[[], None]) -> None:
    """Run ``action`` once, right after the first batch of ``mailbox_id`` is committed (during its sync)."""
    done: list[bool] = []

    def observe(box: int, _lines: object) -> None:
        if box == mailbox_id and not done:
            done.append(True)
            action()

    world.runtime.engine.observers.append(observe)


def assert_in_words(troubles: list[MailboxStatus], says: str) -> None:
    """Every failed sync was told in words: what went wrong, and until when it waits."""
    assert troubles, "the faults never made a sync fail: this test would prove nothing"
    for status in troubles:
        assert status.state in ("backing off", "error"), status
        assert says in status.words, status
        assert "waiting until 2026-" in status.words or "trying again at 2026-" in status.words, status


def assert_fine(world: World, *mailbox_ids: int) -> None:
    for mailbox_id in mailbox_ids:
        mailbox = world.mailbox(mailbox_id)
        assert (mailbox.status, mailbox.last_error, mailbox.backoff_until) == (ACTIVE, None, None)
        assert describe(mailbox, now(world)).state == "active"


def connect_team(world: World) -> tuple[int, int]:
    """Connect Dan and Eve; the first mail arrives; more arrives during Dan's first sync."""
    dan, eve = world.connect(DAN), world.connect(EVE)
    world.clock.advance(minutes=1)
    deliver(world.tenant, BEFORE)
    after_first_batch(world, dan, lambda: deliver(world.tenant, DURING))
    return dan, eve


def play_team(world: World) -> list[MailboxStatus]:
    """The team's scenario from start to end; returns the troubles seen on the way."""
    dan, eve = connect_team(world)
    troubles = sync_until_active(world, dan) + sync_until_active(world, eve)
    world.clock.advance(minutes=10)
    deliver(world.tenant, AFTER)
    return troubles + sync_until_active(world, dan) + sync_until_active(world, eve)


def play_backlog(world: World) -> list[MailboxStatus]:
    """Dan alone, with a backlog of two listing pages."""
    dan = world.connect(DAN)
    world.clock.advance(minutes=1)
    deliver(world.tenant, BACKLOG)
    return sync_until_active(world, dan)


def events(world: World, mailbox_id: int, kind: str) -> list[str]:
    with world.runtime.sessions() as session:
        return list(
            session.scalars(
                select(MailboxEvent.detail)
                .where(MailboxEvent.mailbox_id == mailbox_id, MailboxEvent.kind == kind)
                .order_by(MailboxEvent.id)
            )
        )


@pytest.fixture
def faulty(db_url: str, tmp_path: Path) -> Iterator[World]:
    """A World whose connectors retry a request once, quickly (``Runtime.retry``)."""
    for world in make_world(db_url, tmp_path):
        world.runtime.retry = QUICK
        yield world


@pytest.fixture(scope="module")
def fault_free(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Seen]:
    """``fault_free(name)``: what the scenario ``name`` ("team" or "backlog") leaves when nothing goes wrong,
    played once per module in a World of its own on a SQLite file."""
    plays = {"team": play_team, "backlog": play_backlog}
    cache: dict[str, Seen] = {}

    def reference(name: str) -> Seen:
        if name not in cache:
            path = tmp_path_factory.mktemp(f"fault-free-{name}")
            url = f"sqlite:///{path / 'mailtrail.db'}"
            (path / "mailtrail.db").write_bytes(_sqlite_template.read_bytes())
            with contextmanager(make_world)(url, path) as world:
                assert plays[name](world) == []
                cache[name] = seen(world.runtime.sessions)
        return cache[name]

    return reference


def test_the_fault_free_runs_show_what_the_scenarios_are_about(fault_free: Callable[[str], Seen]) -> None:
    """The reference itself, so that the comparisons below compare something: engagements from every wave,
    on Dan, Eve or both, with the people created, and what was left out."""
    team = fault_free("team")
    keys = {key: sources for key, sources, _, _ in team.engagements}
    assert {"m0@test", "m41@test", "m57@test"} <= keys.keys()  # before, during and after the first sync
    assert keys["m1@test"] == (DAN, EVE)
    assert ("Gus Ray", ("gus@acme.com",), ("Acme",), "Acme") in team.people
    assert [name for name, *_ in team.people] == ["Bob Stone", "Cleo Park", "Drew Hill", "Gus Ray"]
    assert team.counts[DAN][("skipped", "unknown_sender")] > 0
    assert team.counts[EVE][("merged", "duplicate")] > 0
    backlog = fault_free("backlog")
    assert len(backlog.engagements) == 120
    assert sum(backlog.counts[DAN].values()) == 180


# ---- 1. every kind of HTTP fault, by chance ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        pytest.param([(API, Fault.error(503), 0.3)], "HTTP 503", id="503"),
        pytest.param([(API, Fault.error(500), 0.3)], "HTTP 500", id="500"),
        # Requests throttled with a Retry-After (each ends its sync: 20%, or the test takes long); batch parts
        # refused as Google's concurrency limit refuses them (429 without Retry-After: a part refused with one
        # is sent again after that many seconds of real time, at least 1, which would make the test slow).
        pytest.param(
            [(REQUESTS, Fault.throttled(retry_after=30), 0.2), (PARTS, Fault.error(429), 0.3)],
            "HTTP 429",
            id="429",
        ),
        pytest.param([(API, Fault.drop(), 0.3)], "no answer", id="dropped-connection"),
        pytest.param([(API, Fault.malformed(), 0.3)], "not JSON", id="malformed-json"),
        # Google authenticates a batch once, for all its parts: an expired token fails whole requests.
        pytest.param([(REQUESTS, Fault.expired_token(), 0.3)], "HTTP 401", id="expired-access-token"),
        pytest.param([(API, Fault.slow(0.02), 0.3)], None, id="slow"),
    ],
)
def test_http_faults_by_chance_end_with_the_engagements_of_a_fault_free_run(
    faulty: World, fault_free: Callable[[str], Seen], faults: list[tuple[str, Fault, float]], says: str | None
) -> None:
    plan = faulty.gmail.faults
    if says is not None:
        # The first requests fail beyond the client's retries, so that a sync certainly fails; then by chance.
        where, fault, _ = faults[0]
        plan.script(where, fault, times=QUICK.attempts + 1)
    for where, fault, probability in faults:
        plan.chance(where, fault, probability)
    troubles = play_team(faulty)
    assert plan.injected[faults[0][1].kind] >= 5
    if says is None:
        assert troubles == []  # slow answers are only slow
    else:
        assert_in_words(troubles, says)
    expected = fault_free("team")
    result = seen(faulty.runtime.sessions)
    assert result.engagements == expected.engagements
    assert result.people == expected.people
    assert result.counts == expected.counts  # nothing looked at twice
    assert_fine(faulty, faulty.mailbox_id(DAN), faulty.mailbox_id(EVE))


# ---- 2. a throttle that lasts ------------------------------------------------------------------------------


def test_a_throttle_that_lasts_backs_off_in_words_then_resumes_from_the_committed_cursor(
    faulty: World, fault_free: Callable[[str], Seen]
) -> None:
    world = faulty
    dan = world.connect(DAN)
    world.clock.advance(minutes=1)
    deliver(world.tenant, BACKLOG)
    # Once the first page of Dan's backlog is in, Gmail refuses every request for three syncs.
    after_first_batch(world, dan, lambda: world.gmail.faults.script(API, Fault.throttled(600), times=3))
    assert world.sync(dan) == BACKING_OFF
    mailbox = world.mailbox(dan)
    assert mailbox.backoff_until == now(world) + timedelta(seconds=600)  # as long as Gmail said
    assert (sum(seen(world.runtime.sessions).counts[DAN].values()), mailbox.backlog) == (100, 80)
    assert describe(mailbox, now(world)) == MailboxStatus(
        "backing off",
        f"waiting until {mailbox.backoff_until:%Y-%m-%d %H:%M:%S} UTC: Gmail refused listing messages: "
        "Rate Limit Exceeded (HTTP 429, rateLimitExceeded)",
        False,  # nobody needs to do anything: a throttle is not an error
    )
    # Not before then, whoever asks: neither the dispatcher, nor a push, nor a sync started by hand.
    world.clock.advance(seconds=599)
    asyncio.run(world.runtime.request_sync("gmail", DAN))
    assert dan not in world.runtime.dispatcher.due_syncs()
    assert world.sync(dan) is None
    world.clock.set(mailbox.backoff_until)
    troubles = sync_until_active(world, dan)
    assert [status.state for status in troubles] == ["backing off", "backing off"]
    assert world.gmail.faults.injected["status"] == 3
    expected, result = fault_free("backlog"), seen(world.runtime.sessions)
    assert result.engagements == expected.engagements
    assert result.people == expected.people
    assert result.counts == expected.counts  # each message looked at once: the listing resumed, not restarted
    assert events(world, dan, "resync") == []
    assert_fine(world, dan)


# ---- 3. an expired history id ------------------------------------------------------------------------------


def test_an_expired_history_id_lists_again_from_the_last_sync_and_misses_nothing(
    faulty: World, fault_free: Callable[[str], Seen]
) -> None:
    world = faulty
    dan, eve = connect_team(world)
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    last_ok = {box: world.mailbox(box).last_success_at for box in (dan, eve)}
    world.clock.advance(minutes=10)
    deliver(world.tenant, AFTER)
    for address in (DAN, EVE):
        world.tenant.mailbox(address).expire_history()
    # Not an error: the mailbox lists again what arrived since its last successful sync, and says so.
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    for box in (dan, eve):
        assert events(world, box, "resync") == [
            "Gmail no longer has the mailbox's change history from mailtrail's last sync position; listing "
            f"again from {last_ok[box]:%Y-%m-%d %H:%M} UTC"
        ]
    expected, result = fault_free("team"), seen(world.runtime.sessions)
    assert result.engagements == expected.engagements
    assert result.people == expected.people
    for address in (DAN, EVE):  # what was listed again comes back merged, never imported twice
        assert result.counts[address][IMPORTED_OK] == expected.counts[address][IMPORTED_OK]
    assert_fine(world, dan, eve)


def test_when_history_expires_on_every_sync_the_loop_breaker_stops_in_words_and_resume_starts_again(
    faulty: World, fault_free: Callable[[str], Seen]
) -> None:
    world = faulty
    dan, eve = connect_team(world)
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    world.clock.advance(minutes=10)
    deliver(world.tenant, AFTER)
    # Gmail forgets every history id as soon as it hands it out.
    world.gmail.faults.chance(r"/history$", Fault.history_gone(), 1.0)
    assert world.sync(dan) == STOPPED
    assert len(events(world, dan, "resync")) == POLICY.resync_limit
    mailbox = world.mailbox(dan)
    assert describe(mailbox, now(world)) == MailboxStatus(
        "stopped",
        f"the provider forgot this mailbox's sync position {POLICY.resync_limit + 1} times since "
        f"{now(world):%Y-%m-%d %H:%M} UTC; stopped re-listing it so as not to loop: pause and resume the "
        "mailbox to start again",
        True,
    )
    # No loop: the dispatcher leaves it alone (an hour later too, and after a push) until someone resumes it.
    world.clock.advance(hours=1)
    assert asyncio.run(world.runtime.request_sync("gmail", DAN)) == [dan]
    assert dan not in world.runtime.dispatcher.due_syncs()
    world.gmail.faults.clear()  # Gmail keeps its history again
    with transaction(world.runtime.sessions) as session:
        mailboxes.resume(session, world.workspace_id, session.get_one(Mailbox, dan), now(world))
    assert (world.mailbox(dan).status, world.mailbox(dan).last_error) == (ACTIVE, None)
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    expected, result = fault_free("team"), seen(world.runtime.sessions)
    assert result.engagements == expected.engagements
    assert result.people == expected.people
    assert_fine(world, dan, eve)


# ---- 4. a revoked grant ------------------------------------------------------------------------------------


def test_a_revoked_grant_needs_reauthorisation_in_words_and_reconnecting_back_fills_the_downtime(
    faulty: World, fault_free: Callable[[str], Seen]
) -> None:
    world = faulty
    dan, eve = world.connect_by_consent(DAN), world.connect(EVE)
    world.clock.advance(minutes=1)
    deliver(world.tenant, BEFORE)
    after_first_batch(world, dan, lambda: deliver(world.tenant, DURING))
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    world.clock.advance(minutes=10)
    revoke_grant(world, dan)  # Dan removes mailtrail's access in his Google account
    deliver(world.tenant, AFTER[:6])
    assert world.sync(dan) == NEEDS_REAUTH
    cursor = world.mailbox(dan).cursor
    reauthorise = MailboxStatus(
        "needs re-authorisation",
        "Google says the mailbox's access was revoked or has expired: re-authorise it",
        True,
    )
    assert describe(world.mailbox(dan), now(world)) == reauthorise
    # Nobody tries again until a person re-authorises: not the dispatcher, not a push, not a day later.
    asyncio.run(world.runtime.request_sync("gmail", DAN))
    world.clock.advance(days=1)
    assert dan not in world.runtime.dispatcher.due_syncs()
    assert world.sync(dan) is None
    assert describe(world.mailbox(dan), now(world)) == reauthorise
    # Eve's mailbox is not held up; mail keeps arriving while Dan's is down.
    assert sync_until_active(world, eve) == []
    deliver(world.tenant, AFTER[6:])
    world.clock.advance(minutes=10)
    assert world.connect_by_consent(DAN) == dan
    mailbox = world.mailbox(dan)
    assert (mailbox.status, mailbox.cursor, mailbox.last_error) == (ACTIVE, cursor, None)  # where it stopped
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    expected, result = fault_free("team"), seen(world.runtime.sessions)
    assert result.engagements == expected.engagements  # the downtime's mail is in, on both mailboxes
    assert result.people == expected.people
    # Eve saw the mail to both first this time, so the two mailboxes split imported and merged otherwise.
    assert result.totals() == expected.totals()
    assert events(world, dan, "resync") == []
    assert_fine(world, dan, eve)


def revoke_grant(world: World, mailbox_id: int) -> None:
    """Revoke the mailbox's grant at Google (its refresh token), as its owner does in their account."""
    with world.runtime.sessions() as session:
        credential_id = session.get_one(Mailbox, mailbox_id).credential_id
        refresh_token = world.runtime.box.decrypt(session.get_one(Credential, credential_id).secret)
    assert httpx.post(f"{world.base}/revoke", params={"token": refresh_token}).is_success


# ---- 5. a worker killed mid-batch --------------------------------------------------------------------------


@pytest.fixture
def realtime_gmail() -> Iterator[tuple[Tenant, GmailSandbox, str]]:
    """A Gmail sandbox on the real clock (a `mailtrail` process syncs against it in real time)."""
    tenant = Tenant(SystemClock())
    for address in (DAN, EVE):
        tenant.add_mailbox(address)
    app = create_gmail_app(tenant, quota=GMAIL_DEFAULT_POLICY.disabled(), faults=FaultPlan(seed=5))
    server = RunningApp(app)
    server.start()
    try:
        yield tenant, app.state.sandbox, server.base_url
    finally:
        app.state.sandbox.push.close()
        server.stop()


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(
    world: World, realtime_gmail: tuple[Tenant, GmailSandbox, str], fault_free: Callable[[str], Seen]
) -> None:
    """`mailtrail mailbox sync` killed with SIGKILL while it fetches the second page of Dan's backlog, then
    run again to the end. Runs on both databases: the killed process's connection dies with it, and
    PostgreSQL rolls back what it had not committed as SQLite does on the next open."""
    tenant, gmail, base = realtime_gmail
    key = gmail.auth.create_service_account("sync@proj.iam.gserviceaccount.com", f"{base}/token")
    sessions = world.runtime.sessions
    with transaction(sessions) as session:
        at = utcnow()
        box = world.runtime.box
        credential = mailboxes.store_service_account(
            session, world.workspace_id, json.dumps(key), GMAIL_READONLY, box, at
        )
        dan = mailboxes.connect_mailbox(session, world.workspace_id, "gmail", DAN, credential, at).id
    deliver(tenant, BACKLOG)
    secret = world.runtime.settings.secret_keys
    assert secret is not None
    env = {
        **os.environ,
        "MAILTRAIL_DATABASE_URL": world.runtime.settings.database_url,
        "MAILTRAIL_GMAIL_API_URL": base,
        "MAILTRAIL_GOOGLE_TOKEN_URL": f"{base}/token",
        "MAILTRAIL_SECRET_KEYS": secret.get_secret_value(),
    }
    command = [str(Path(sys.executable).with_name("mailtrail")), "mailbox", "sync", DAN]
    # The batches of the first listing page pass; the next one, the first of the second page, is held for a
    # few seconds, and the worker is killed while it waits for it.
    first_page = LISTING_PAGE // GMAIL_BATCH
    gmail.faults.script(BATCH, Fault.slow(0.0), times=first_page)
    gmail.faults.chance(BATCH, Fault.slow(3.0), 1.0)
    with open(os.devnull, "wb") as quiet:
        worker = subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet)
        try:
            wait_for(lambda: gmail.faults.injected["delay"] > first_page, worker)
        finally:
            worker.kill()  # SIGKILL
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    # Exactly the first page is in (a page is committed with the cursor after it); nothing of the second.
    assert looked_at(sessions, dan) == LISTING_PAGE
    with sessions() as session:
        mailbox = session.get_one(Mailbox, dan)
        # Nobody said how the sync ended: once it is overdue, the status says its worker stopped, and the
        # mailbox is due again.
        later = utcnow() + POLICY.stalled_after + timedelta(minutes=1)
        status = describe(mailbox, later)
        assert (status.state, status.needs_attention) == ("stalled", True)
        assert "its worker stopped; it will be taken up again" in status.words
        assert dan in due_mailboxes(session, later, SYNCABLE, 10)
    gmail.faults.clear()
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.stdout.strip().splitlines()[-1].startswith(f"{DAN}: up to date as of ")
    expected, result = fault_free("backlog"), seen(sessions)
    assert result.engagements == expected.engagements
    assert result.people == expected.people
    assert result.counts == expected.counts  # the first page was not looked at again
    with sessions() as session:
        rows = session.execute(
            select(func.count(), func.count(func.distinct(EngagementSource.engagement_id))).where(
                EngagementSource.mailbox_id == dan
            )
        ).one()
    assert tuple(rows) == (len(expected.engagements), len(expected.engagements))  # one source row each
    assert events(world, dan, "resync") == []


def looked_at(sessions: sessionmaker[Session], mailbox_id: int) -> int:
    """Emails the mailbox's committed batches looked at."""
    with sessions() as session:
        total = session.scalar(
            select(func.sum(ImportCount.count)).where(ImportCount.mailbox_id == mailbox_id)
        )
    return int(total or 0)


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.poll() is None, "the sync ended before it could be killed"
        assert time.monotonic() < deadline, "the sync did not get there in time"
        time.sleep(0.02)


# ---- 6. a deleted engagement -------------------------------------------------------------------------------


def test_a_deleted_engagement_stays_deleted_when_history_expires_and_its_period_is_listed_again(
    faulty: World, fault_free: Callable[[str], Seen]
) -> None:
    world = faulty
    dan, eve = connect_team(world)
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    with transaction(world.runtime.sessions) as session:  # m1: Ann to Dan and Eve, on both mailboxes
        delete_engagement(session, world.workspace_id, "m1@test", deleted_by="cara@ourco.com")
    world.clock.advance(minutes=10)
    deliver(world.tenant, AFTER)
    for address in (DAN, EVE):
        world.tenant.mailbox(address).expire_history()
    assert sync_until_active(world, dan) + sync_until_active(world, eve) == []
    for box in (dan, eve):
        assert len(events(world, box, "resync")) == 1
        # Listed again and looked at, and left out because it was deleted.
        assert world.outcomes(box)["m1@test"] == "skipped/deleted"
    expected, result = fault_free("team"), seen(world.runtime.sessions)
    assert result.engagements == expected.without("m1@test")
    assert result.people == expected.people
    assert_fine(world, dan, eve)
