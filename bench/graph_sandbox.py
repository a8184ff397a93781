"""Graph emulator benchmark: a connector's full sync through delta, and MIME fetches one by one vs $batch.

One mailbox is filled by the sandbox traffic generator, the emulator runs over TLS on 127.0.0.1 (quotas
off, so the figures are the emulator's own cost), and an httpx client does what a connector does:
- delta: the initial round of ``/mailFolders/inbox/messages/delta`` with ``$select`` and 100 per page;
  baseline: the same messages listed with ``/messages?$top=100`` (no sync state), in the same process;
- MIME: ``$value`` of N messages one request each (baseline) vs the same in ``$batch`` requests of 20.

Run: ``.venv/bin/python bench/graph_sandbox.py [--messages 3000] [--mime 200]``.
"""

from __future__ import annotations

import argparse
import secrets
import ssl
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.generator import TrafficGenerator, populate
from mailtrail.sandbox.graph.app import create_graph_app
from mailtrail.sandbox.graph.tls import make_loopback_certificate
from mailtrail.sandbox.quota import GRAPH_POLICY
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant

USER = "ada@company.example"
DEV_TOKEN = secrets.token_urlsafe(16)  # a fresh bearer token for this run only
SELECT = "subject,from,toRecipients,ccRecipients,receivedDateTime,internetMessageId,conversationId,isDraft"


def timed(label: str, work: Callable[[], int], repeat: int = 3) -> float:
    """Best of ``repeat`` runs (the first pays for warm-up), printed with its rate."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<48} {count:>6} items  {best:7.3f} s  {count / best:9.0f}/s")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages generated into the mailbox")
    parser.add_argument("--mime", type=int, default=200, help="messages fetched as MIME")
    args = parser.parse_args()

    clock = ManualClock()
    tenant = Tenant(clock, history_horizon=None)
    tenant.add_mailbox(USER)
    populate(tenant, TrafficGenerator([USER]), clock.now() - timedelta(days=30), args.messages)
    clock.advance(days=3650)  # release every delivery the generator scheduled after "now"
    inbox_size = sum(1 for m in tenant.mailbox(USER).messages() if "INBOX" in m.labels)
    if inbox_size < 100:
        raise SystemExit(f"only {inbox_size} inbox messages generated; ask for more with --messages")
    app = create_graph_app(tenant, quota=GRAPH_POLICY.disabled(), dev_token=DEV_TOKEN)
    with tempfile.TemporaryDirectory() as work:
        cert = make_loopback_certificate(Path(work))
        running = RunningApp(app, tls=(str(cert.cert_file), str(cert.key_file)))
        running.start()
        trust = ssl.create_default_context(cafile=str(cert.cert_file))
        headers = {"Authorization": f"Bearer {DEV_TOKEN}", "Prefer": "odata.maxpagesize=100"}
        try:
            with httpx.Client(base_url=running.base_url, verify=trust, headers=headers, timeout=60) as client:
                run(client, inbox_size, args.mime)
        finally:
            running.server.force_exit = True
            running.stop()


def run(client: httpx.Client, inbox_size: int, mime_count: int) -> None:
    base = f"/v1.0/users/{USER}"
    print(f"mailbox: {USER}, inbox of {inbox_size} messages")

    def follow(url: str, key: str) -> int:
        seen = 0
        next_url: str | None = url
        while next_url:
            body = client.get(next_url).json()
            seen += len(body["value"])
            next_url = body.get(key) if key in body else None
        return seen

    def listing() -> int:
        return follow(f"{base}/mailFolders/inbox/messages?$top=100&$select={SELECT}", "@odata.nextLink")

    def delta() -> int:
        return follow(f"{base}/mailFolders/inbox/messages/delta?$select={SELECT}", "@odata.nextLink")

    listed = timed("baseline: list inbox, $top=100", listing)
    synced = timed("delta: initial round, maxpagesize=100", delta)
    print(f"delta / list time ratio: {synced / listed:.2f}")

    ids = [m["id"] for m in client.get(f"{base}/messages?$top={mime_count}&$select=id").json()["value"]]

    def one_by_one() -> int:
        return sum(len(client.get(f"{base}/messages/{i}/$value").content) > 0 for i in ids)

    def batched() -> int:
        done = 0
        for start in range(0, len(ids), 20):
            chunk = ids[start : start + 20]
            requests = [
                {"id": str(n), "method": "GET", "url": f"/users/{USER}/messages/{i}/$value"}
                for n, i in enumerate(chunk)
            ]
            answer = client.post("/v1.0/$batch", json={"requests": requests}).json()
            done += sum(r["status"] == 200 for r in answer["responses"])
        return done

    single = timed("baseline: $value one request each", one_by_one)
    batch = timed("$batch of 20 $value requests", batched)
    print(f"$batch / one-by-one time ratio: {batch / single:.2f}")


if __name__ == "__main__":
    main()
