"""Who runs the syncs: mailtrail's served app running them in-process (SQLite's way, and PostgreSQL's too when
asked), push notifications from the Gmail sandbox through Pub/Sub with a signed token, and procrastinate
workers on PostgreSQL: the work shared, one job per mailbox at a time, stalled jobs taken up again, and a
mailbox in back-off never holding up the others."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from tests.integration.sync.conftest import DAN, EVE, World, make_world, message

from mailtrail.api.app import create_app
from mailtrail.db import transaction
from mailtrail.models import Engagement, Mailbox
from mailtrail.sandbox.gmail.push import PUSH_SERVICE_ACCOUNT
from mailtrail.sandbox.server import RunningApp
from mailtrail.sync.engine import ACTIVE, BACKING_OFF
from mailtrail.sync.jobs import SYNC_TASK, defer, job_app

ANN = "Ann Lee <ann@acme.com>"
TOPIC = "projects/mailtrail-test/topics/gmail"
TEAM = tuple(f"member{n}@ourco.com" for n in range(6))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], seconds: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def interrupted() -> list[str]:
    """Addresses to connect and leave "syncing" before the app starts, as a process killed mid-sync does."""
    return []


@pytest.fixture
def served(db_url: str, tmp_path: Path, interrupted: list[str]) -> Iterator[tuple[World, str]]:
    """A World whose runtime is served as mailtrail's app (jobs in-process) and receives Gmail's pushes."""
    port = _free_port()
    public = f"http://127.0.0.1:{port}"

    def push_settings(sandbox: str) -> dict[str, Any]:
        return {
            "public_url": public,
            "google_pubsub_topic": TOPIC,
            "google_certs_url": f"{sandbox}/oauth2/v3/certs",
            "google_push_service_account": PUSH_SERVICE_ACCOUNT,
            "sync_poll_seconds": 3600.0,
        }

    for world in make_world(db_url, tmp_path, overrides=push_settings):
        subscription = {
            "topic": TOPIC,
            "pushConfig": {
                "pushEndpoint": f"{public}/push/gmail",
                "oidcToken": {"audience": f"{public}/push/gmail"},
            },
        }
        created = httpx.put(f"{world.base}/v1/projects/mailtrail-test/subscriptions/push", json=subscription)
        assert created.is_success, created.text
        for address in interrupted:
            mailbox_id = world.connect(address)
            with transaction(world.runtime.sessions) as session:
                mailbox = session.get_one(Mailbox, mailbox_id)
                mailbox.status, mailbox.sync_due_at = "syncing", world.clock.now() + timedelta(minutes=15)
        server = RunningApp(create_app(world.runtime, jobs="in-process"), port, lifespan=True)
        server.start()
        try:
            yield world, public
        finally:
            server.stop()


def _status(world: World, mailbox_id: int) -> str:
    return world.mailbox(mailbox_id).status


def _engagements(world: World) -> int:
    with world.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Engagement)) or 0


def test_the_served_app_syncs_new_mailboxes_and_a_push_brings_mail_in_at_once(served) -> None:
    world, _ = served
    dan = world.connect(DAN)
    # The runner finds the new mailbox due, syncs it, and registers its push notifications.
    wait_until(lambda: _status(world, dan) == ACTIVE, what="first sync")
    wait_until(lambda: world.mailbox(dan).watch_expires_at is not None, what="watch registered")
    assert world.mailbox(dan).watch_expires_at == world.clock.now() + timedelta(days=7)
    # The next poll is an hour away: only the push can bring this email in now.
    world.tenant.deliver(message(1, ANN, DAN))
    wait_until(lambda: _engagements(world) == 1, what="engagement after push")
    assert world.outcomes(dan) == {"m1@test": "imported/ok"}


def test_a_push_without_google_s_signature_is_refused_and_changes_nothing(served) -> None:
    world, public = served
    dan = world.connect(DAN)
    wait_until(lambda: _status(world, dan) == ACTIVE, what="first sync")
    due = world.mailbox(dan).sync_due_at
    body = {"message": {"data": "eyJlbWFpbEFkZHJlc3MiOiJkYW5Ab3VyY28uY29tIiwiaGlzdG9yeUlkIjoxfQ=="}}
    for headers in ({}, {"Authorization": "Bearer not.a.token"}):
        refused = httpx.post(f"{public}/push/gmail", json=body, headers=headers)
        assert refused.status_code == 403
    assert world.mailbox(dan).sync_due_at == due


def test_a_mailbox_backing_off_does_not_hold_up_the_others(served) -> None:
    world, _ = served
    dan, eve = world.connect(DAN), world.connect(EVE)
    with transaction(world.runtime.sessions) as session:
        stuck = session.get_one(Mailbox, dan)
        stuck.status, stuck.backoff_reason = BACKING_OFF, "Google's per-user quota"
        stuck.backoff_until = world.clock.now() + timedelta(hours=1)
    wait_until(lambda: _status(world, eve) == ACTIVE, what="the other mailbox synced")
    assert world.mailbox(dan).last_attempt_at is None
    assert _status(world, dan) == BACKING_OFF


@pytest.mark.parametrize("interrupted", [[DAN]])
def test_a_sync_cut_short_by_a_stopped_process_resumes_when_it_starts_again(served) -> None:
    """serve runs every sync of a SQLite deployment: at its start, one still marked syncing was cut short."""
    world, _ = served
    dan = world.mailbox_id(DAN)
    wait_until(lambda: _status(world, dan) == ACTIVE, what="the interrupted sync resumed at start")


# ---- procrastinate, PostgreSQL only ----------------------------------------------------------------------


@pytest.fixture
def team_world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(db_url, tmp_path, team=TEAM)


def _run_workers(world: World, count: int, concurrency: int, timeout: float = 60.0) -> None:
    """``count`` procrastinate workers (each its own app and connection pool), stopped once no sync job is
    left to do (a job waiting for its mailbox's lock counts as left)."""
    pending = text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status IN ('todo', 'doing')"
    )

    async def run() -> None:
        runtime = world.runtime
        apps = [
            job_app(runtime.settings.database_url, runtime.engine, runtime.dispatcher) for _ in range(count)
        ]
        for app in apps:
            await app.open_async()
        workers = [asyncio.create_task(app.run_worker_async(concurrency=concurrency)) for app in apps]
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                with runtime.sessions() as session:
                    if not session.scalar(pending, {"t": SYNC_TASK}):
                        break
            else:
                raise AssertionError(f"sync jobs still waiting after {timeout} s")
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for app in apps:
                await app.close_async()

    asyncio.run(run())


def _sync_intervals(world: World) -> dict[int, list[tuple[Any, Any]]]:
    """(started, ended) of every sync job, by mailbox, from procrastinate's own event log."""
    query = text(
        "SELECT (j.args->>'mailbox_id')::int, e.type::text, e.at FROM procrastinate_events e "
        "JOIN procrastinate_jobs j ON j.id = e.job_id WHERE j.task_name = :task ORDER BY e.at"
    )
    started: dict[int, Any] = {}
    intervals: dict[int, list[tuple[Any, Any]]] = {}
    with world.runtime.sessions() as session:
        for mailbox_id, kind, at in session.execute(query, {"task": SYNC_TASK}):
            if kind == "started":
                started[mailbox_id] = at
            elif kind in ("succeeded", "failed") and mailbox_id in started:
                intervals.setdefault(mailbox_id, []).append((started.pop(mailbox_id), at))
    return intervals


@pytest.mark.postgres_only
def test_workers_share_the_mailboxes_and_never_sync_one_twice_at_once(team_world: World) -> None:
    world = team_world
    ids = [world.connect(address) for address in TEAM]
    world.clock.advance(minutes=1)
    for n, address in enumerate(TEAM):
        for k in range(3):
            world.tenant.deliver(message(f"{n}-{k}", ANN, address))

    async def enqueue() -> None:
        app = job_app(world.runtime.settings.database_url, world.runtime.engine, world.runtime.dispatcher)
        async with app.open_async():
            for mailbox_id in ids:
                await defer(app, SYNC_TASK, mailbox_id)
                await defer(app, SYNC_TASK, mailbox_id)  # already waiting: not queued twice
                # A second job for the same mailbox, queued on purpose: it must wait for the first.
                await app.configure_task(name=SYNC_TASK, lock=f"mailbox:{mailbox_id}").defer_async(
                    mailbox_id=mailbox_id
                )

    asyncio.run(enqueue())
    with world.runtime.sessions() as session:
        queued = session.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"),
                                {"t": SYNC_TASK})  # fmt: skip
    assert queued == 2 * len(ids)
    _run_workers(world, count=2, concurrency=4)

    assert {world.mailbox(i).status for i in ids} == {ACTIVE}
    assert _engagements(world) == 3 * len(TEAM)
    intervals = _sync_intervals(world)
    assert sorted(intervals) == sorted(ids)
    for mailbox_id, spans in intervals.items():
        # Both queued jobs ran (the dispatcher may have added one more for a mailbox it found due).
        assert len(spans) >= 2
        ordered = sorted(spans)
        for (_, end), (next_start, _) in itertools.pairwise(ordered):
            assert next_start >= end, f"mailbox {mailbox_id} synced by two jobs at once"
    with world.runtime.sessions() as session:
        future = session.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE scheduled_at > now()"))
    assert future == 0


@pytest.mark.postgres_only
def test_a_job_left_doing_by_a_killed_worker_is_run_again(team_world: World) -> None:
    world = team_world
    mailbox_id = world.connect(TEAM[0])
    world.tenant.deliver(message("after-crash", ANN, TEAM[0]))
    app = job_app(world.runtime.settings.database_url, world.runtime.engine, world.runtime.dispatcher)

    async def crash_then_retry() -> None:
        async with app.open_async():
            await defer(app, SYNC_TASK, mailbox_id)
            # What SIGKILL leaves behind: the job "doing" under a worker whose heartbeat stopped long ago.
            async with app.connector.pool.connection() as connection:
                dead = await (await connection.execute(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '10 minutes') RETURNING id"
                )).fetchone()  # fmt: skip
                assert dead is not None
                await connection.execute(
                    "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE task_name = %s",
                    (dead[0], SYNC_TASK),
                )
            await app.tasks["jobs.retry_stalled"].func(timestamp=0)

    asyncio.run(crash_then_retry())
    _run_workers(world, count=1, concurrency=2)
    assert world.mailbox(mailbox_id).status == ACTIVE
    assert _engagements(world) == 1
