"""Sync work as jobs: one job syncs one mailbox; a push or the dispatcher's timer asks for it.

The task functions are the same everywhere. On PostgreSQL they run on procrastinate: ``mailtrail worker``
processes on any number of machines share the queue; a job's lock is its mailbox, so a mailbox is never synced
by two jobs at once, and its queueing lock keeps at most one job per mailbox waiting. procrastinate has no
SQLite connector: with SQLite, ``mailtrail serve`` runs them in its own process (``InProcessRunner``).

No job is ever scheduled in the future: a job waiting with a lock would hold up every later job of its
mailbox, and a mailbox backing off for an hour would fill the queue. Back-off lives on the mailbox instead
(``backoff_until``); the dispatcher runs every few seconds and enqueues only what is due now.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.db import transaction
from mailtrail.logs import get_logger
from mailtrail.models import utcnow
from mailtrail.sync.engine import SYNCABLE, SYNCING, SyncEngine
from mailtrail.sync.repository import due_mailboxes, resume_interrupted, watches_due

log = get_logger(__name__)

SYNC_TASK = "mailbox.sync"
WATCH_TASK = "mailbox.watch"
# A watch is renewed once it has less than this left (Gmail's last 7 days: renewed daily, as Google advises),
# and a failed attempt is tried again after RETRY_WATCH.
RENEW_BEFORE = timedelta(days=6)
RETRY_WATCH = timedelta(minutes=10)
# Due mailboxes handed out per dispatcher run.
DISPATCH_BATCH = 500


def mailbox_lock(mailbox_id: int) -> str:
    return f"mailbox:{mailbox_id}"


class Dispatcher:
    """What is due now: syncs (pushed or polled) and watch renewals. Shared by both runners."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = utcnow,
        push: frozenset[str] = frozenset({"gmail", "microsoft"}),
    ) -> None:
        """``push``: the providers whose push notifications are set up (the others have nothing to watch)."""
        self.sessions = sessions
        self.clock = clock
        self.push = push

    def due_syncs(self) -> list[int]:
        with self.sessions() as session:
            return due_mailboxes(session, self.clock(), SYNCABLE, DISPATCH_BATCH)

    def resume_interrupted(self) -> list[int]:
        """Syncs cut short when this process last stopped (it ran them all): due now, not in 15 minutes."""
        with transaction(self.sessions) as session:
            return resume_interrupted(session, self.clock(), SYNCING)

    def due_watches(self) -> list[int]:
        now = self.clock()
        with self.sessions() as session:
            return [
                mailbox_id
                for provider in sorted(self.push)
                for mailbox_id in watches_due(
                    session, provider, now + RENEW_BEFORE, now - RETRY_WATCH, SYNCABLE
                )
            ]


def procrastinate_url(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (procrastinate speaks psycopg directly)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(
            "the job queue needs PostgreSQL; with SQLite, `mailtrail serve` runs the jobs itself"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def job_app(database_url: str, engine: SyncEngine, dispatcher: Dispatcher) -> App:
    """The procrastinate app with mailtrail's tasks, bound to one engine (one per worker process)."""
    app = App(connector=PsycopgConnector(conninfo=procrastinate_url(database_url)))

    @app.task(name=SYNC_TASK)
    async def sync_mailbox(mailbox_id: int) -> None:
        await engine.sync(mailbox_id)

    @app.task(name=WATCH_TASK)
    async def renew_watch(mailbox_id: int) -> None:
        await engine.renew_watch(mailbox_id)

    # Every 5 seconds: hand out what is due. One dispatcher job at a time across all workers.
    @app.periodic(cron="* * * * * */5")
    @app.task(name="sync.dispatch", queueing_lock="sync.dispatch", lock="sync.dispatch")
    async def dispatch(timestamp: int) -> None:
        for mailbox_id in await asyncio.to_thread(dispatcher.due_syncs):
            await defer(app, SYNC_TASK, mailbox_id)

    @app.periodic(cron="* * * * *")
    @app.task(name="sync.watches", queueing_lock="sync.watches", lock="sync.watches")
    async def watches(timestamp: int) -> None:
        for mailbox_id in await asyncio.to_thread(dispatcher.due_watches):
            await defer(app, WATCH_TASK, mailbox_id)

    # A worker killed mid-job leaves its job "doing": once its heartbeat is old, the job is run again.
    @app.periodic(cron="* * * * *")
    @app.task(name="jobs.retry_stalled", queueing_lock="jobs.retry_stalled", lock="jobs.retry_stalled")
    async def retry_stalled(timestamp: int) -> None:
        for job in await app.job_manager.get_stalled_jobs():
            log.warning("retrying a stalled job", task=job.task_name, job_id=job.id)
            await app.job_manager.retry_job(job)

    return app


async def defer(app: App, task: str, mailbox_id: int) -> None:
    """Enqueue a mailbox's job unless one is already waiting (its queueing lock)."""
    deferrer = app.configure_task(
        name=task, lock=mailbox_lock(mailbox_id), queueing_lock=f"{task}:{mailbox_id}"
    )
    with contextlib.suppress(AlreadyEnqueued):
        await deferrer.defer_async(mailbox_id=mailbox_id)


class InProcessRunner:
    """The same tasks in this process (SQLite): a mailbox at most once at a time, ``concurrency`` at once."""

    def __init__(
        self, engine: SyncEngine, dispatcher: Dispatcher, concurrency: int = 8, interval: float = 5.0
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.interval = interval
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due mailboxes now (a push arrived) instead of at the next tick."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set, then wait for the running syncs to finish."""
        interrupted = await asyncio.to_thread(self.dispatcher.resume_interrupted)
        if interrupted:
            log.info("resuming syncs interrupted when this process last stopped", mailboxes=interrupted)
        while not stop.is_set():
            self._wake.clear()  # before the round: a wake during it means look again
            await self.tick()
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def tick(self) -> None:
        """One dispatcher round: start the due syncs, then the due watch renewals."""
        for mailbox_id in await asyncio.to_thread(self.dispatcher.due_syncs):
            self._start(mailbox_id, self.engine.sync)
        for mailbox_id in await asyncio.to_thread(self.dispatcher.due_watches):
            self._start(mailbox_id, self.engine.renew_watch)

    async def idle(self) -> None:
        """Wait until no job runs (tests and the demo)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, mailbox_id: int, job: Callable[[int], object]) -> None:
        if mailbox_id in self._running:
            return
        self._running.add(mailbox_id)
        task = asyncio.ensure_future(self._run_one(mailbox_id, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_one(self, mailbox_id: int, job: Callable[[int], object]) -> None:
        try:
            async with self._slots:
                result = job(mailbox_id)
                if asyncio.iscoroutine(result):
                    await result
        except Exception:
            log.exception("job failed", mailbox_id=mailbox_id)
        finally:
            self._running.discard(mailbox_id)
            # A push that came while this job ran left the mailbox due: look again now, not at the next tick.
            self._wake.set()
