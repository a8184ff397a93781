"""Batch parts run concurrently through quota and faults: refused parts answer inside the 200 batch."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY, GMAIL_LEGACY_POLICY, QuotaPolicy
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

from .conftest import DEV_TOKEN, TEAM

ANN = TEAM[0]
PART_STATUS = re.compile(r"^HTTP/1\.1 (\d{3})", re.MULTILINE)


@pytest.fixture
def batch_app(tenant: Tenant, request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, GmailSandbox]]:
    """The Gmail app with the quota policy the test is parametrized with."""
    policy: QuotaPolicy = request.param
    app = create_gmail_app(tenant, quota=policy, dev_token=DEV_TOKEN)
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    with (
        serve({"gmail": app}) as urls,
        httpx.Client(base_url=urls["gmail"], headers=headers, timeout=10) as c,
    ):
        yield c, app.state.sandbox
    app.state.sandbox.push.close()


def _batch(client: httpx.Client, message_ids: list[str]) -> tuple[list[int], list[dict[str, object]]]:
    """Batch-get the messages; returns each part's status and JSON body, in request order."""
    parts = [
        f"--XX\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n"
        f"GET /gmail/v1/users/me/messages/{mid}?format=minimal HTTP/1.1\r\n\r\n"
        for i, mid in enumerate(message_ids)
    ]
    response = client.post(
        "/batch/gmail/v1",
        content="".join(parts) + "--XX--\r\n",
        headers={"Content-Type": "multipart/mixed; boundary=XX"},
    )
    assert response.status_code == 200
    boundary = response.headers["content-type"].split("boundary=")[1]
    chunks = response.text.split(f"--{boundary}")[1:-1]
    assert [re.search(r"Content-ID: <response-item(\d+)>", c)[1] for c in chunks] == [  # type: ignore[index]
        str(i) for i in range(len(message_ids))
    ]
    statuses = [int(PART_STATUS.search(c)[1]) for c in chunks]  # type: ignore[index]
    bodies = [json.loads(c.strip().rsplit("\r\n\r\n", 1)[1]) for c in chunks]
    return statuses, bodies


def _ids(tenant: Tenant, n: int) -> list[str]:
    """``n`` message ids of ANN (repeating: a batch may get one message twice)."""
    ids = [m.id for m in tenant.mailbox(ANN).messages()]
    return (ids * (n // len(ids) + 1))[:n]


@pytest.mark.parametrize("batch_app", [replace(GMAIL_DEFAULT_POLICY, max_concurrent=None)], indirect=True)
def test_batch_parts_run_at_the_same_time(
    batch_app: tuple[httpx.Client, GmailSandbox], tenant: Tenant
) -> None:
    client, sandbox = batch_app
    sandbox.faults.script(r"/messages/[^/]+$", Fault.slow(0.3), times=5)
    statuses, _ = _batch(client, _ids(tenant, 5))
    assert statuses == [200] * 5
    assert sandbox.limiter.counters(ANN).peak_concurrent == 5  # all five were in flight together


@pytest.mark.parametrize("batch_app", [replace(GMAIL_DEFAULT_POLICY, max_concurrent=2)], indirect=True)
def test_the_concurrency_limit_refuses_parts_inside_the_batch(
    batch_app: tuple[httpx.Client, GmailSandbox], tenant: Tenant
) -> None:
    client, sandbox = batch_app
    sandbox.faults.script(r"/messages/[^/]+$", Fault.slow(0.3), times=5)
    statuses, bodies = _batch(client, _ids(tenant, 5))
    assert sorted(statuses) == [200, 200, 429, 429, 429]
    refused = next(b for s, b in zip(statuses, bodies, strict=True) if s == 429)
    assert refused["error"] == {
        "code": 429,
        "message": "Too many concurrent requests for user",
        "errors": [
            {
                "message": "Too many concurrent requests for user",
                "domain": "global",
                "reason": "rateLimitExceeded",
            }
        ],
        "status": "RESOURCE_EXHAUSTED",
    }
    assert sandbox.limiter.counters(ANN).rejected_concurrent == 3


@pytest.mark.parametrize("batch_app", [replace(GMAIL_DEFAULT_POLICY, max_concurrent=None)], indirect=True)
def test_parts_over_the_per_minute_quota_get_googles_403(
    batch_app: tuple[httpx.Client, GmailSandbox], tenant: Tenant, clock: ManualClock
) -> None:
    client, sandbox = batch_app
    sandbox.limiter.acquire(ANN, 5_990, "earlier calls")  # this minute's 6,000 units nearly spent
    sandbox.limiter.release(ANN)
    statuses, bodies = _batch(client, _ids(tenant, 4))  # 4 x messages.get at 5 units
    assert sorted(statuses) == [200, 200, 403, 403]
    error = next(b for s, b in zip(statuses, bodies, strict=True) if s == 403)["error"]
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["errors"][0]["domain"] == "usageLimits"
    assert re.fullmatch(
        r"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service "
        r"'gmail\.googleapis\.com' for consumer 'project_number:\d+'\.",
        error["message"],
    )
    clock.advance(60)
    assert _batch(client, _ids(tenant, 4))[0] == [200] * 4


@pytest.mark.parametrize("batch_app", [replace(GMAIL_LEGACY_POLICY, max_concurrent=None)], indirect=True)
def test_a_batch_of_60_gets_meets_the_legacy_250_units_a_second(
    batch_app: tuple[httpx.Client, GmailSandbox], tenant: Tenant
) -> None:
    client, _ = batch_app
    statuses, bodies = _batch(client, _ids(tenant, 60))
    assert statuses.count(200) == 50  # 250 units / 5 per messages.get
    assert statuses.count(403) == 10
    assert {b["error"]["errors"][0]["reason"] for s, b in zip(statuses, bodies, strict=True) if s == 403} == {
        "userRateLimitExceeded"
    }
