"""One sync of one mailbox: from its cursor to the end of its changes, one committed batch at a time.

Each batch is a page of the provider's changes: fetched, decided and written by the ingest service, and
committed in one transaction with the cursor after it. A worker killed at any moment loses nothing (the next
sync starts from the last committed cursor) and duplicates nothing (a batch written twice comes back merged).

What can go wrong is the mailbox's state, never a crash of the worker: a throttle backs off until the
provider says (never fatal, never holding up other mailboxes); a revoked grant makes the mailbox "needs
re-authorisation"; an expired cursor is recovered by listing again from the last successful sync, with a loop
breaker; server errors back off exponentially with jitter. Every outcome is written to the mailbox (status,
last error in words, when to try again), so the status tells the truth.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from mailtrail.db import transaction
from mailtrail.engagements.ingest import Ingest, IngestBatch
from mailtrail.engagements.report import ReportLine
from mailtrail.logs import get_logger
from mailtrail.models import Mailbox, MailboxEvent, Workspace, utcnow
from mailtrail.providers.base import (
    AccessRevoked,
    Connector,
    CursorExpired,
    IncomingEmail,
    Page,
    ProviderError,
    Throttled,
    Watch,
)
from mailtrail.secrets import SecretBox, SecretError

log = get_logger(__name__)

# What a mailbox's status can be (models.sync.Mailbox.status).
CONNECTED, SYNCING, ACTIVE, BACKING_OFF = "connected", "syncing", "active", "backing_off"
NEEDS_REAUTH, PAUSED, ERROR, DISCONNECTED = "needs_reauth", "paused", "error", "disconnected"
# Stopped by the engine itself (the resync loop breaker): waits for a person, as paused does.
STOPPED = "stopped"
# Statuses the dispatcher syncs when they are due; the others wait for a person (re-authorise, resume).
SYNCABLE = (CONNECTED, SYNCING, ACTIVE, BACKING_OFF, ERROR)


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    """How often and how patiently mailboxes are synced."""

    # Polling, the safety net under push: a mailbox is synced at least this often.
    poll_seconds: float = 300.0
    # Exponential back-off after failures: base * 2^(failures-1), capped, with +-20% jitter.
    backoff_base_seconds: float = 30.0
    backoff_max_seconds: float = 1800.0
    # Loop breaker: more re-listings than this within the window stops the mailbox with an error.
    resync_limit: int = 3
    resync_window: timedelta = timedelta(hours=24)
    # A sync running longer than this has lost its worker: the mailbox is due again.
    stalled_after: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class _Start:
    """What a sync needs to know about its mailbox, read when it starts."""

    workspace_id: int
    cursor: str | None
    sync_from: datetime
    resync_since: datetime
    with_body: bool


ConnectorFactory = Callable[[Session, Mailbox], Connector]
# Told of every committed batch: the mailbox id and the report lines (the demo prints them as they land).
BatchObserver = Callable[[int, list[ReportLine]], None]


class SyncEngine:
    """Syncs mailboxes by id; many can run at once (each mailbox at most once, which the jobs ensure)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        connectors: ConnectorFactory,
        policy: SyncPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        box: SecretBox | None = None,
    ) -> None:
        """``box`` encrypts the push registrations' state (a Graph client state is a secret); without one
        (tests of a connector alone) it is stored as the connector gives it."""
        self.sessions = sessions
        self.connectors = connectors
        self.policy = policy or SyncPolicy()
        self.clock = clock
        self.box = box
        self.observers: list[BatchObserver] = []

    async def sync(self, mailbox_id: int) -> str | None:
        """Sync one mailbox to the end of its changes; returns its status after (None: not synced)."""
        started = self.clock()
        try:
            opened = await asyncio.to_thread(self._begin, mailbox_id, started)
        except AccessRevoked as exc:
            return await asyncio.to_thread(self._stopped, mailbox_id, NEEDS_REAUTH, exc.detail)
        except ProviderError as exc:
            return await asyncio.to_thread(self._failed, mailbox_id, exc.detail)
        if opened is None:
            return None
        start, connector = opened
        ingest = Ingest(start.workspace_id, mailbox_id)
        bound = log.bind(mailbox_id=mailbox_id, workspace_id=start.workspace_id)
        try:
            cursor = start.cursor or connector.start_cursor(start.sync_from)
            while True:
                try:
                    page = await connector.page(cursor)
                except CursorExpired as expired:
                    since = start.resync_since
                    stop = await asyncio.to_thread(self._resync, mailbox_id, expired.detail, since)
                    if stop is not None:
                        raise _ResyncLoop(stop) from None
                    cursor = connector.resync_cursor(since)
                    await asyncio.to_thread(self._save_cursor, mailbox_id, cursor)
                    continue
                await self._batch(connector, ingest, mailbox_id, start, page)
                cursor = page.cursor
                if page.done:
                    break
        except Throttled as exc:
            bound.info("sync throttled", retry_after=exc.retry_after, detail=exc.detail)
            return await asyncio.to_thread(self._throttled, mailbox_id, exc)
        except AccessRevoked as exc:
            bound.info("access revoked", detail=exc.detail)
            return await asyncio.to_thread(self._stopped, mailbox_id, NEEDS_REAUTH, exc.detail)
        except _ResyncLoop as exc:
            bound.warning("resync loop broken", detail=str(exc))
            return await asyncio.to_thread(self._stopped, mailbox_id, STOPPED, str(exc))
        except ProviderError as exc:
            bound.warning("provider error", detail=exc.detail)
            return await asyncio.to_thread(self._failed, mailbox_id, exc.detail)
        except Exception as exc:
            # A bug, not the mailbox's state: logged in full, shown in words, retried with back-off.
            bound.exception("sync failed")
            return await asyncio.to_thread(self._failed, mailbox_id, f"internal error: {type(exc).__name__}")
        finally:
            await connector.aclose()
        return await asyncio.to_thread(self._succeeded, mailbox_id, started)

    async def renew_watch(self, mailbox_id: int) -> None:
        """Register or renew the mailbox's push notifications; a failure is recorded, polling carries on."""
        opened = await asyncio.to_thread(self._open_watch, mailbox_id)
        if opened is None:
            return
        state, connector = opened
        try:
            watch = await connector.watch(state)
        except ProviderError as exc:
            log.warning("watch renewal failed", mailbox_id=mailbox_id, detail=exc.detail)
            await asyncio.to_thread(self._watch_failed, mailbox_id, exc.detail)
            return
        finally:
            await connector.aclose()
        if watch is not None:
            await asyncio.to_thread(self._watch_renewed, mailbox_id, watch)

    async def _batch(
        self, connector: Connector, ingest: Ingest, mailbox_id: int, start: _Start, page: Page
    ) -> None:
        fetched = (
            await connector.fetch(page.message_ids, with_body=start.with_body) if page.message_ids else []
        )
        # Nothing received before the mailbox was connected (less the backfill) is looked at.
        items = [item for item in fetched if item.email.time is None or item.email.time >= start.sync_from]
        batch = await asyncio.to_thread(self._decide, ingest, items)
        needed = batch.needs_body
        bodies = await connector.fetch_bodies(needed) if needed else {}
        lines = await asyncio.to_thread(self._commit, ingest, batch, bodies, mailbox_id, page)
        for observer in self.observers:
            observer(mailbox_id, lines)
        log.info(
            "batch committed", mailbox_id=mailbox_id, messages=len(page.message_ids), decided=len(items),
            bodies=len(bodies), done=page.done, backlog=page.backlog,
        )  # fmt: skip

    # ---- database steps, each its own transaction (run in a thread) ----

    def _begin(self, mailbox_id: int, now: datetime) -> tuple[_Start, Connector] | None:
        with transaction(self.sessions) as session:
            mailbox = session.get(Mailbox, mailbox_id, with_for_update=_locks(session))
            if mailbox is None or mailbox.status not in SYNCABLE:
                return None
            if mailbox.backoff_until is not None and mailbox.backoff_until > now:
                return None
            visibility = session.get_one(Workspace, mailbox.workspace_id).visibility
            connector = self.connectors(session, mailbox)
            mailbox.status = SYNCING
            mailbox.last_attempt_at = now
            # Not due while it syncs; due again if this sync's worker dies and never says how it ended.
            mailbox.sync_due_at = now + self.policy.stalled_after
            sync_from = mailbox.sync_from or mailbox.connected_at
            start = _Start(
                workspace_id=mailbox.workspace_id,
                cursor=mailbox.cursor,
                sync_from=sync_from,
                resync_since=max(mailbox.last_success_at or sync_from, sync_from),
                with_body=visibility == "full",
            )
        return start, connector

    def _open_watch(self, mailbox_id: int) -> tuple[str | None, Connector] | None:
        with transaction(self.sessions) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None or mailbox.status not in SYNCABLE:
                return None
            mailbox.watch_attempted_at = self.clock()
        with transaction(self.sessions) as session:
            mailbox = session.get_one(Mailbox, mailbox_id)
            try:
                return self.unseal(mailbox.watch_state), self.connectors(session, mailbox)
            except ProviderError as exc:
                _event(
                    session,
                    mailbox,
                    "watch",
                    f"push notifications could not be renewed: {exc.detail}",
                    self.clock(),
                )
                return None

    def _watch_renewed(self, mailbox_id: int, watch: Watch) -> None:
        with transaction(self.sessions) as session:
            mailbox = session.get_one(Mailbox, mailbox_id)
            mailbox.watch_expires_at, mailbox.watch_id = watch.expires_at, watch.id
            mailbox.watch_state = self.box.encrypt(watch.state) if self.box and watch.state else watch.state

    def unseal(self, state: str | None) -> str | None:
        """The stored watch state as the connector gave it; one no key reads is no state (made anew)."""
        if not state or self.box is None:
            return state
        try:
            return self.box.decrypt(state)
        except SecretError:
            return None

    def _watch_failed(self, mailbox_id: int, detail: str) -> None:
        now = self.clock()
        with transaction(self.sessions) as session:
            mailbox = session.get_one(Mailbox, mailbox_id)
            _event(session, mailbox, "watch", f"push notifications could not be renewed: {detail}", now)

    def _decide(self, ingest: Ingest, items: list[IncomingEmail]) -> IngestBatch:
        with self.sessions() as session:
            return ingest.decide(session, items, self.clock())

    def _commit(
        self, ingest: Ingest, batch: IngestBatch, bodies: dict[str, bytes], mailbox_id: int, page: Page
    ) -> list[ReportLine]:
        """The batch's rows and the cursor after it, in one transaction: exactly once."""
        with transaction(self.sessions) as session:
            lines = ingest.write(session, batch, bodies)
            mailbox = session.get_one(Mailbox, mailbox_id)
            mailbox.cursor = page.cursor
            mailbox.backlog = page.backlog
        return lines

    def _resync(self, mailbox_id: int, detail: str, since: datetime) -> str | None:
        """Record a re-listing after an expired cursor. Returns why the loop breaker stops it, if it does."""
        now = self.clock()
        with transaction(self.sessions) as session:
            mailbox = session.get_one(Mailbox, mailbox_id)
            window_start = mailbox.resync_window_start
            if window_start is None or now - window_start > self.policy.resync_window:
                mailbox.resync_window_start, mailbox.resyncs = now, 0
            mailbox.resyncs += 1
            if mailbox.resyncs > self.policy.resync_limit:
                return (
                    f"the provider forgot this mailbox's sync position {mailbox.resyncs} times since "
                    f"{_when(mailbox.resync_window_start)}; stopped re-listing it so as not to loop: "
                    "pause and resume the mailbox to start again"
                )
            _event(session, mailbox, "resync", f"{detail}; listing again from {_when(since)}", now)
        return None

    def _save_cursor(self, mailbox_id: int, cursor: str) -> None:
        with transaction(self.sessions) as session:
            session.get_one(Mailbox, mailbox_id).cursor = cursor

    def _succeeded(self, mailbox_id: int, started: datetime) -> str:
        now = self.clock()
        with transaction(self.sessions) as session:
            mailbox = _ending(session, mailbox_id)
            if mailbox.status in _SET_BY_A_PERSON:
                return mailbox.status  # paused or disconnected while it synced: left as they said
            if mailbox.status in (BACKING_OFF, ERROR) or mailbox.failures:
                _event(session, mailbox, "recovered", "syncing again", now)
            # Nothing received before the start of this sync is missing.
            mailbox.status, mailbox.last_success_at, mailbox.failures = ACTIVE, started, 0
            mailbox.backoff_until = mailbox.backoff_reason = None
            mailbox.last_error = None
            mailbox.backlog = 0
            # A push that came while this sync ran made the mailbox due now (``_begin`` had put it 15 minutes
            # ahead): its mail may have arrived after this sync read the changes, so it stays due.
            if mailbox.sync_due_at is None or mailbox.sync_due_at > now:
                mailbox.sync_due_at = now + timedelta(seconds=self.policy.poll_seconds)
            return mailbox.status

    def _throttled(self, mailbox_id: int, exc: Throttled) -> str:
        """Over quota: wait as long as the provider says, then carry on from the committed cursor."""
        now = self.clock()
        until = now + timedelta(seconds=max(exc.retry_after, 1.0))
        with transaction(self.sessions) as session:
            mailbox = _ending(session, mailbox_id)
            if mailbox.status in _SET_BY_A_PERSON:
                return mailbox.status  # paused or disconnected while it synced: left as they said
            mailbox.status, mailbox.backoff_until, mailbox.backoff_reason = BACKING_OFF, until, exc.detail
            mailbox.sync_due_at = until
            _event(session, mailbox, "throttled", f"{exc.detail}; waiting until {_when(until)}", now)
            return mailbox.status

    def _failed(self, mailbox_id: int, detail: str) -> str:
        """A failure: back off exponentially with jitter, and say why."""
        now = self.clock()
        with transaction(self.sessions) as session:
            mailbox = _ending(session, mailbox_id)
            if mailbox.status in _SET_BY_A_PERSON:
                return mailbox.status  # paused or disconnected while it synced: left as they said
            mailbox.failures += 1
            policy = self.policy
            delay = min(policy.backoff_base_seconds * 2 ** (mailbox.failures - 1), policy.backoff_max_seconds)
            until = now + timedelta(seconds=delay * random.uniform(0.8, 1.2))  # jitter, not cryptography
            # After a few failures in a row, the mailbox is in error (still retried, slowly).
            mailbox.status = ERROR if mailbox.failures >= 5 else BACKING_OFF
            mailbox.backoff_until, mailbox.backoff_reason = until, detail
            mailbox.last_error, mailbox.last_error_at = detail, now
            mailbox.sync_due_at = until
            _event(session, mailbox, "error", detail, now)
            return mailbox.status

    def _stopped(self, mailbox_id: int, status: str, detail: str) -> str:
        """A state only a person can end (re-authorise, resume): no more syncs until then."""
        now = self.clock()
        with transaction(self.sessions) as session:
            mailbox = _ending(session, mailbox_id)
            if mailbox.status in _SET_BY_A_PERSON:
                return mailbox.status  # paused or disconnected while it synced: left as they said
            mailbox.status, mailbox.last_error, mailbox.last_error_at = status, detail, now
            mailbox.sync_due_at = None
            _event(session, mailbox, status, detail, now)
            return mailbox.status


# Statuses a person sets, which a sync ending meanwhile must not overwrite.
_SET_BY_A_PERSON = (PAUSED, DISCONNECTED)


def _ending(session: Session, mailbox_id: int) -> Mailbox:
    """The mailbox as a sync ends, locked on PostgreSQL against a push or a person changing it meanwhile."""
    return session.get_one(Mailbox, mailbox_id, with_for_update=_locks(session))


class _ResyncLoop(Exception):
    """The cursor expired again and again: stop instead of re-listing forever."""


def _event(session: Session, mailbox: Mailbox, kind: str, detail: str, at: datetime) -> None:
    session.add(
        MailboxEvent(
            workspace_id=mailbox.workspace_id, mailbox_id=mailbox.id, at=at, kind=kind, detail=detail
        )
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _locks(session: Session) -> bool:
    """Row locks where the database has them (PostgreSQL); SQLite has one writer at a time anyway."""
    return session.get_bind().dialect.name == "postgresql"
