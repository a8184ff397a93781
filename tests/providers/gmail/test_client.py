"""The Gmail client against the sandbox's quotas and faults: throttles, server errors, batch parts."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from mailtrail.providers.base import ProviderError, Throttled, Unavailable
from mailtrail.providers.gmail import GmailConnector
from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY, PER_MINUTE_PER_USER, QuotaPolicy, RateLimit
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, FAST, Gmail, Spent, open_connector, running, sync

pytestmark = pytest.mark.anyio
MISSING = "00000000deadbeef"


def _ids(tenant: Tenant, count: int | None = None) -> list[str]:
    return [m.id for m in tenant.mailbox(ANN).messages()][:count]


async def test_a_small_per_user_quota_throttles_with_the_wait_gmail_implies(tenant: Tenant) -> None:
    # 60 units a minute: the profile, a listing and a few messages fit; the rest of the page does not.
    policy = QuotaPolicy(per_key=(RateLimit(60, 60.0, "rateLimitExceeded", PER_MINUTE_PER_USER),))
    with running(tenant, quota=policy) as gmail:
        connector = await open_connector(gmail, ANN, page_size=20)
        try:
            page = await connector.page(connector.start_cursor(gmail.clock.now() - timedelta(days=6)))
            with pytest.raises(Throttled) as throttled:
                await connector.fetch(page.message_ids, with_body=False)
        finally:
            await connector.aclose()
    # Google sends no Retry-After with its per-minute quota errors: the wait is a quota window.
    assert throttled.value.retry_after == FAST.throttle_delay
    assert "Queries per minute per user" in throttled.value.detail
    assert gmail.sandbox.limiter.counters(ANN).rejected > 0


async def test_a_429_says_when_to_come_back(gmail: Gmail) -> None:
    connector = await open_connector(gmail, ANN)
    gmail.sandbox.faults.script(r"/messages$", Fault.throttled(retry_after=7), method="GET")
    try:
        with pytest.raises(Throttled) as throttled:
            await connector.page(connector.start_cursor(gmail.clock.now() - timedelta(days=1)))
    finally:
        await connector.aclose()
    assert throttled.value.retry_after == 7


async def test_server_errors_are_retried_then_pass(gmail: Gmail) -> None:
    connector = await open_connector(gmail, ANN)
    gmail.sandbox.faults.script(r"/profile$", Fault.error(503), times=2)
    gmail.sandbox.faults.script(r"/messages/[^/]+$", Fault.error(500), times=3)  # parts of the batch
    try:
        handed, _, _ = await sync(connector, connector.start_cursor(gmail.clock.now() - timedelta(days=6)))
        items = await connector.fetch(handed, with_body=False)
    finally:
        await connector.aclose()
    assert gmail.sandbox.faults.injected["status"] == 5
    assert {item.source for item in items} == set(handed)
    assert handed


async def test_timeouts_and_dropped_connections_are_retried(gmail: Gmail) -> None:
    async with httpx.AsyncClient(timeout=0.3) as http:
        connector = await open_connector(gmail, ANN, http=http)
        gmail.sandbox.faults.script(r"/profile$", Fault.slow(1.0))
        gmail.sandbox.faults.script(r"/messages$", Fault.drop())
        page = await connector.page(connector.start_cursor(gmail.clock.now() - timedelta(days=6)))
        await connector.aclose()
    assert page.message_ids
    assert gmail.sandbox.faults.injected["delay"] == gmail.sandbox.faults.injected["drop"] == 1


async def test_a_server_that_keeps_failing_is_unavailable(gmail: Gmail) -> None:
    connector = await open_connector(gmail, ANN)
    gmail.sandbox.faults.chance(r"/profile$", Fault.error(503), probability=1.0)
    try:
        with pytest.raises(Unavailable, match=r"after 4 tries \(HTTP 503"):
            await connector.page(connector.start_cursor(gmail.clock.now()))
    finally:
        await connector.aclose()


async def test_a_message_gone_from_a_batch_is_left_out(gmail: Gmail, tenant: Tenant) -> None:
    connector = await open_connector(gmail, ANN)
    ids = _ids(tenant, 3)
    try:
        items = await connector.fetch([ids[0], MISSING, *ids[1:]], with_body=True)
    finally:
        await connector.aclose()
    assert [item.source for item in items] == ids
    assert all(item.raw for item in items)


async def test_batches_hold_at_most_50_parts_and_refused_parts_are_retried(tenant: Tenant) -> None:
    # Parts run at once inside a batch: two at a time are allowed, so most parts are refused at first.
    policy = replace(GMAIL_DEFAULT_POLICY, max_concurrent=2)
    batches: list[int] = []

    async def count_parts(request: httpx.Request) -> None:
        if request.url.path.endswith("/batch/gmail/v1"):
            batches.append(request.content.count(b"Content-Type: application/http"))

    with running(tenant, quota=policy) as gmail:
        gmail.sandbox.faults.script(r"/messages/[^/]+$", Fault.slow(0.05), times=200)  # so that parts overlap
        async with httpx.AsyncClient(event_hooks={"request": [count_parts]}) as http:
            connector = await open_connector(gmail, ANN, http=http)
            wanted = _ids(tenant) * 3  # more than 50, with repeats
            found = await connector.client.get_messages(wanted, "minimal")
            await connector.aclose()
    assert set(found) == set(wanted)
    assert gmail.sandbox.limiter.counters(ANN).rejected_concurrent > 0
    assert max(batches) <= 50
    assert len(batches) > 1


async def test_a_refusal_names_googles_reason(gmail: Gmail, tenant: Tenant, spent: Spent) -> None:
    connector: GmailConnector = await open_connector(gmail, ANN, spend=spent)
    try:
        with pytest.raises(
            ProviderError, match=r"Invalid value for format: bogus \(HTTP 400, invalidArgument\)"
        ):
            await connector.client.get_messages(_ids(tenant, 1), "bogus")
    finally:
        await connector.aclose()
