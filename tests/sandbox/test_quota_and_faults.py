"""Quotas arrive at the documented rates (on the manual clock) and every fault is produced on demand."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import Fault, FaultPlan
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.quota import GMAIL_LEGACY_POLICY, QuotaLimiter
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

from .conftest import DEV_TOKEN, TEAM

ANN = TEAM[0]


@pytest.fixture
def limited(tenant: Tenant) -> Iterator[tuple[httpx.Client, GmailSandbox]]:
    """The Gmail app with Gmail's legacy quota profile, except two concurrent requests instead of 25."""
    app = create_gmail_app(tenant, quota=replace(GMAIL_LEGACY_POLICY, max_concurrent=2), dev_token=DEV_TOKEN)
    with (
        serve({"gmail": app}) as urls,
        httpx.Client(
            base_url=urls["gmail"], headers={"Authorization": f"Bearer {DEV_TOKEN}"}, timeout=10
        ) as client,
    ):
        yield client, app.state.sandbox
    app.state.sandbox.push.close()


def test_per_user_rate_is_250_units_a_second(
    limited: tuple[httpx.Client, GmailSandbox], clock: ManualClock
) -> None:
    client, sandbox = limited
    message_id = client.get(f"/gmail/v1/users/{ANN}/messages", params={"maxResults": 1}).json()["messages"][
        0
    ]["id"]
    clock.advance(1)  # a fresh second: the list above cost 5 units
    statuses = [client.get(f"/gmail/v1/users/{ANN}/messages/{message_id}").status_code for _ in range(51)]
    assert statuses[:50] == [200] * 50  # 50 x messages.get (5 units) = 250 units
    assert statuses[50] == 403
    over = client.get(f"/gmail/v1/users/{ANN}/messages/{message_id}").json()["error"]
    assert over["errors"][0]["reason"] == "userRateLimitExceeded"
    assert over["errors"][0]["domain"] == "usageLimits"
    assert client.get(f"/gmail/v1/users/{ANN}/profile").status_code == 403  # even a 1-unit call
    clock.advance(1)
    assert client.get(f"/gmail/v1/users/{ANN}/messages/{message_id}").status_code == 200
    counters = sandbox.limiter.counters(ANN)
    assert counters.units == 5 + 50 * 5 + 5
    assert counters.rejected == 3
    assert counters.by_method["messages.get"] == 51
    # Another user has a quota of their own.
    assert client.get(f"/gmail/v1/users/{TEAM[1]}/profile").status_code == 200


def test_per_user_overrun_as_429_with_retry_after(tenant: Tenant, clock: ManualClock) -> None:
    app = create_gmail_app(tenant, quota="legacy", dev_token=DEV_TOKEN, user_rate_status=429)
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    with serve({"gmail": app}) as urls, httpx.Client(base_url=urls["gmail"], headers=headers) as client:
        statuses = [client.get(f"/gmail/v1/users/{ANN}/messages").status_code for _ in range(51)]
        assert statuses.count(200) == 50  # messages.list costs 5 units
        assert statuses[-1] == 429
        error = client.get(f"/gmail/v1/users/{ANN}/labels").json()["error"]
        assert error["errors"][0]["reason"] == "rateLimitExceeded"
        assert error["message"].startswith("User-rate limit exceeded.  Retry after 2026-01-05T09:00:01")
        clock.advance(1)
        assert client.get(f"/gmail/v1/users/{ANN}/labels").status_code == 200
    app.state.sandbox.push.close()


def test_per_minute_and_history_costs(clock: ManualClock) -> None:
    limiter = QuotaLimiter(GMAIL_LEGACY_POLICY, clock)
    admitted = 0
    for _ in range(60):  # a full minute at the per-second ceiling: 60 x 125 history.list calls x 2 units
        for _ in range(125):
            limiter.acquire(ANN, 2, "history.list")
            limiter.release(ANN)
            admitted += 1
        clock.advance(1)
    assert admitted * 2 == 15_000
    assert limiter.counters(ANN).units == 15_000


def test_concurrent_requests_over_the_limit_get_429(limited: tuple[httpx.Client, GmailSandbox]) -> None:
    client, sandbox = limited
    sandbox.faults.script(r"/profile$", Fault.slow(1.0), times=2)
    with ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(client.get, f"/gmail/v1/users/{ANN}/profile") for _ in range(2)]
        while sandbox.limiter.counters(ANN).peak_concurrent < 2:
            time.sleep(0.01)  # wait until both slow requests hold their slot
        third = client.get(f"/gmail/v1/users/{ANN}/labels")
    assert [f.result().status_code for f in slow] == [200, 200]
    assert third.status_code == 429
    assert third.json()["error"]["message"] == "Too many concurrent requests for user"
    assert sandbox.limiter.counters(ANN).rejected_concurrent == 1


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        (Fault.error(500), 500, "backendError"),
        (Fault.error(503), 503, "backendError"),
        (Fault.throttled(7), 429, "rateLimitExceeded"),
        (Fault.expired_token(), 401, "authError"),
        (Fault.history_gone(), 404, "notFound"),
    ],
)
def test_error_faults_on_demand(
    client: httpx.Client, gmail: tuple[str, GmailSandbox], fault: Fault, status: int, reason: str
) -> None:
    _, sandbox = gmail
    sandbox.faults.script("/history$", fault, times=2)
    start = sandbox.tenant.mailbox(ANN).history_id
    for _ in range(2):
        response = client.get(f"/gmail/v1/users/{ANN}/history", params={"startHistoryId": start})
        assert response.status_code == status
        assert response.json()["error"]["errors"][0]["reason"] == reason
    if fault.retry_after:
        assert response.headers["Retry-After"] == "7"
    assert client.get(f"/gmail/v1/users/{ANN}/history", params={"startHistoryId": start}).status_code == 200


def test_dropped_connection_slow_response_and_malformed_body(
    client: httpx.Client, gmail: tuple[str, GmailSandbox]
) -> None:
    _, sandbox = gmail
    sandbox.faults.script("/profile$", Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/gmail/v1/users/{ANN}/profile")
    sandbox.faults.script("/profile$", Fault.malformed())
    malformed = client.get(f"/gmail/v1/users/{ANN}/profile")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    sandbox.faults.script("/profile$", Fault.slow(0.05))
    assert client.get(f"/gmail/v1/users/{ANN}/profile").status_code == 200
    assert sandbox.faults.injected == {"drop": 1, "malformed": 1, "delay": 1}


def test_probabilistic_faults_are_seeded() -> None:
    def run(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed)
        plan.chance("/messages", Fault.error(503), probability=0.3)
        return [plan.take("GET", "/gmail/v1/users/me/messages") is not None for _ in range(200)]

    first = run(3)
    assert first == run(3)
    assert 30 < sum(first) < 90
    assert FaultPlan().take("GET", "/anything") is None


def test_faults_and_counters_over_http(client: httpx.Client) -> None:
    """What a person driving `mailtrail sandbox` from outside can do."""
    added = client.post(
        "/sandbox/faults", json={"path": "/labels$", "kind": "status", "status": 503, "times": 2}
    )
    assert added.status_code == 201
    assert [client.get(f"/gmail/v1/users/{ANN}/labels").status_code for _ in range(3)] == [503, 503, 200]
    client.post(
        "/sandbox/faults", json={"path": "/labels$", "kind": "status", "status": 500, "probability": 1.0}
    )
    assert client.get(f"/gmail/v1/users/{ANN}/labels").status_code == 500
    assert client.delete("/sandbox/faults").status_code == 204
    assert client.get(f"/gmail/v1/users/{ANN}/labels").status_code == 200
    bad = client.post("/sandbox/faults", json={"path": "x", "kind": "explode"})
    assert bad.status_code == 400
    assert "kind must be one of" in bad.json()["error"]["message"]
    counters = client.get("/sandbox/quota").json()
    assert counters["byKey"][ANN]["by_method"]["labels.list"] == 5
    assert counters["total"]["units"] == 5
