"""Push latency benchmark: an email's delivery to its engagement in the database, with Gmail push and without.

mailtrail's own app (``create_app`` with the in-process job runner, SQLite) is served over HTTP on
127.0.0.1 with its lifespan, so its jobs run as in ``mailtrail serve``. The Gmail sandbox has a Pub/Sub push
subscription pointing at mailtrail's ``/push/gmail`` with an OIDC token (audience ``<public_url>/push/gmail``,
signed by the sandbox, whose keys mailtrail fetches from the sandbox's JWKS URL); the mailbox's watch is
registered by the runner's watch round. Then N customer emails are delivered from outside
(``POST /sandbox/deliver``), one every ``--every`` seconds (Gmail pushes at most one notification per mailbox
per second), and for each the time from the delivery request to its engagement being visible in the
database (polled by message key every 20 ms) is taken. Goal: p95 under 5 s.

Baseline, in the same run: the same deliveries with push switched off (no topic, no subscription), found by
polling alone, with the mailbox polled every ``--poll-seconds`` (5 s here so that it finishes; production
polls every 300 s) and the runner looking for due mailboxes every 5 s. The push run keeps the production poll
interval (300 s), so what it measures is push alone. One unmeasured warm-up email goes first in each run.

Run: ``.venv/bin/python bench/push_latency.py [--emails 60] [--every 1.2] [--poll-seconds 5]``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from _gmail_world import (
    CUSTOMER,
    TOPIC,
    USER,
    GmailWorld,
    MailMaker,
    connect,
    free_port,
    fresh_database,
    gmail_world,
    make_workspace,
)
from mailtrail.api.app import create_app
from mailtrail.logs import configure_logging
from mailtrail.models import Engagement, Mailbox
from mailtrail.sandbox.gmail.push import PUSH_SERVICE_ACCOUNT
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY
from mailtrail.sandbox.server import RunningApp
from mailtrail.sync.endpoints import GMAIL_PUSH_PATH
from mailtrail.sync.engine import ACTIVE
from mailtrail.sync.runtime import Runtime

PRODUCTION_POLL = 300.0


@dataclass
class Latencies:
    name: str
    seconds: list[float]
    missing: int
    pushes: str


class Watcher:
    """Polls the database for engagements by message key and notes when each first appears."""

    def __init__(self, runtime: Runtime, workspace_id: int, interval: float = 0.02) -> None:
        self.runtime, self.workspace_id, self.interval = runtime, workspace_id, interval
        self.pending: dict[str, float] = {}  # key -> when its delivery was asked for (perf_counter)
        self.found: dict[str, float] = {}  # key -> latency in seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engagement-watcher", daemon=True)

    def expect(self, key: str, since: float) -> None:
        with self._lock:
            self.pending[key] = since

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                keys = list(self.pending)
            if not keys:
                continue
            with self.runtime.sessions() as session:
                seen = session.scalars(
                    select(Engagement.message_key).where(
                        Engagement.workspace_id == self.workspace_id, Engagement.message_key.in_(keys)
                    )
                ).all()
            now = time.perf_counter()
            with self._lock:
                for key in seen:
                    self.found[key] = now - self.pending.pop(key)

    def wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.pending:
                    return True
            time.sleep(0.05)
        return False

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_for(what: str, check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


def run(push: bool, args: argparse.Namespace, folder: Path) -> Latencies:
    name = "push" if push else f"polling every {args.poll_seconds:g} s"
    print(f"[{name}]", flush=True)
    with gmail_world(GMAIL_DEFAULT_POLICY) as world:
        url = fresh_database(None, folder)
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        if push:
            subscribe(world, public_url + GMAIL_PUSH_PATH)
        settings = world.settings(
            url,
            public_url=public_url,
            google_pubsub_topic=TOPIC if push else "",
            google_push_service_account=PUSH_SERVICE_ACCOUNT if push else "",
            google_certs_url=f"{world.base}/oauth2/v3/certs",
            sync_poll_seconds=PRODUCTION_POLL if push else args.poll_seconds,
        )
        runtime = Runtime.from_settings(settings, url)
        crm = make_workspace(runtime, folder)
        mailbox_id = connect(runtime, crm, world.key)
        server = RunningApp(create_app(runtime, jobs="in-process"), port=port, lifespan=True)
        server.start()
        try:

            def status() -> str:
                with runtime.sessions() as session:
                    return session.get_one(Mailbox, mailbox_id).status

            wait_for("the first sync", lambda: status() == ACTIVE)
            if push:
                # The runner's watch round registers it (users.watch) once the first sync is done.
                wait_for("the mailbox's watch", lambda: USER in world.sandbox.push.watches, timeout=30.0)
            latencies, missing = deliver_all(world, runtime, crm, args, push)
        finally:
            server.stop()
            runtime.database.dispose()
        log = world.sandbox.push.log
        pushes = f"{len(log.sent)} pushes sent, {log.failed} refused, {log.dropped} dropped (1/s limit)"
    return Latencies(name, latencies, missing, pushes if push else "push off")


def subscribe(world: GmailWorld, endpoint: str) -> None:
    """The Pub/Sub push subscription of the topic, with an OIDC token for mailtrail's push URL."""
    project, topic = TOPIC.split("/")[1], TOPIC.rsplit("/", 1)[1]
    body = {
        "topic": TOPIC,
        "pushConfig": {
            "pushEndpoint": endpoint,
            "oidcToken": {"serviceAccountEmail": PUSH_SERVICE_ACCOUNT, "audience": endpoint},
        },
    }
    answer = httpx.put(f"{world.base}/v1/projects/{project}/subscriptions/{topic}-push", json=body)
    answer.raise_for_status()


def deliver_all(
    world: GmailWorld,
    runtime: Runtime,
    crm,
    args: argparse.Namespace,
    push: bool,  # type: ignore[no-untyped-def]
) -> tuple[list[float], int]:
    maker = MailMaker(crm, tag="push" if push else "poll")
    patience = (PRODUCTION_POLL if push else args.poll_seconds) + 30
    with Watcher(runtime, crm.workspace_id) as watcher, httpx.Client(base_url=world.base) as sandbox:

        def deliver() -> str:
            mail = maker.next(CUSTOMER)
            watcher.expect(mail.key, time.perf_counter())
            answer = sandbox.post(
                "/sandbox/deliver", content=mail.raw, params={"to": USER},
                headers={"Content-Type": "message/rfc822"},
            )  # fmt: skip
            answer.raise_for_status()
            return mail.key

        warm_up = deliver()
        # The measured deliveries keep to the schedule after it (so none comes within Gmail's second of it).
        started = time.perf_counter() + args.every
        if not watcher.wait_all(patience):
            raise SystemExit("the warm-up email never became an engagement")
        watcher.found.pop(warm_up)
        for n in range(args.emails):
            # On a schedule, not after a fixed pause: a slow delivery does not stretch the interval.
            time.sleep(max(started + n * args.every - time.perf_counter(), 0.0))
            deliver()
            if (n + 1) % 20 == 0:
                done = len(watcher.found)
                print(f"  {n + 1}/{args.emails} delivered, {done} engagements seen", flush=True)
        watcher.wait_all(patience)
        return list(watcher.found.values()), len(watcher.pending)


def describe(result: Latencies) -> tuple[float, float, float]:
    values = sorted(result.seconds)
    p50 = statistics.median(values)
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18]
    top = values[-1]
    missing = f", {result.missing} never seen" if result.missing else ""
    print(
        f"{result.name}: {len(values)} emails: p50 {p50:.2f} s, p95 {p95:.2f} s, max {top:.2f} s, "
        f"mean {statistics.fmean(values):.2f} s{missing}; {result.pushes}",
        flush=True,
    )
    return p50, p95, top


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--emails", type=int, default=60, help="customer emails delivered per run (60)")
    parser.add_argument("--every", type=float, default=1.2, help="seconds between deliveries (1.2)")
    parser.add_argument(
        "--poll-seconds", type=float, default=5.0, help="the baseline's poll interval, push off (5)"
    )
    args = parser.parse_args()
    configure_logging("WARNING")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(
        f"push_latency: {args.emails} customer emails, one every {args.every:g} s, 1 Gmail mailbox; "
        f"mailtrail app on 127.0.0.1 (in-process jobs, SQLite); push run: Pub/Sub push with OIDC, poll every "
        f"{PRODUCTION_POLL:g} s; baseline: push off, poll every {args.poll_seconds:g} s; real clock",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        pushed = run(True, args, Path(tmp))
        push_figures = describe(pushed)
        polled = run(False, args, Path(tmp))
        poll_figures = describe(polled)
    (p50, p95, top), (b50, b95, btop) = push_figures, poll_figures
    verdict = "ok" if p95 < 5.0 and not pushed.missing else "MISSED"
    print(
        f"push vs polling every {args.poll_seconds:g} s: p50 {p50:.2f} vs {b50:.2f} s, p95 {p95:.2f} vs "
        f"{b95:.2f} s ({b95 / p95:.1f}x sooner), max {top:.2f} vs {btop:.2f} s; goal p95 < 5 s: {verdict}"
    )


if __name__ == "__main__":
    main()
