"""The Graph client against the sandbox's quotas, faults and refusals: throttles, server errors, expired
tokens, batch parts, access policies, users without a mailbox, and listing the tenant's users."""

from __future__ import annotations

import ssl
import time
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from mailtrail.providers.base import AccessRevoked, ProviderError, Throttled, Unavailable
from mailtrail.providers.gmail import RetryPolicy
from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID
from mailtrail.sandbox.graph.tls import LoopbackCertificate
from mailtrail.sandbox.quota import GRAPH_POLICY, QuotaPolicy, RateLimit
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, BO, Graph, Spent, gid, open_connector, running, sync

pytestmark = pytest.mark.anyio


async def test_graphs_request_rate_throttles_with_its_retry_after(
    tenant: Tenant, loopback: LoopbackCertificate
) -> None:
    # 10 requests per 10 minutes: the first pass's listing and a few folders fit, the rest does not.
    policy = QuotaPolicy(per_key=(RateLimit(10, 600.0, "ApplicationThrottled"),), max_concurrent=4)
    with running(tenant, loopback, quota=policy) as graph:
        connector = await open_connector(graph, ANN)
        try:
            with pytest.raises(Throttled) as throttled:
                await sync(connector, connector.start_cursor(graph.clock.now() - timedelta(days=6)))
        finally:
            await connector.aclose()
        counters = graph.sandbox.limiter.counters(graph.key(ANN))
    assert counters.rejected > 0
    assert "ApplicationRequestRate" in throttled.value.detail
    # Graph's Retry-After: the whole window, as the first requests slide out of it.
    assert 590 <= throttled.value.retry_after <= 600


async def test_a_429_says_when_to_come_back(graph: Graph) -> None:
    connector = await open_connector(graph, ANN)
    graph.sandbox.faults.script(r"/mailFolders$", Fault.throttled(retry_after=7), method="GET")
    try:
        with pytest.raises(Throttled) as throttled:
            await connector.page(connector.start_cursor(graph.clock.now() - timedelta(days=1)))
    finally:
        await connector.aclose()
    assert throttled.value.retry_after == 7


async def test_server_errors_and_expired_tokens_are_retried_then_pass(graph: Graph, tenant: Tenant) -> None:
    connector = await open_connector(graph, ANN)
    graph.sandbox.faults.script(r"/mailFolders$", Fault.error(500), times=2)
    graph.sandbox.faults.script(r"/messages/delta$", Fault.error(502), times=2)  # parts of a batch too
    graph.sandbox.faults.script(r"/messages/delta$", Fault.expired_token())
    try:
        handed, _, _ = await sync(connector, connector.start_cursor(graph.clock.now() - timedelta(days=6)))
    finally:
        await connector.aclose()
    assert graph.sandbox.faults.injected["status"] == 4
    assert graph.sandbox.faults.injected["expired_token"] == 1
    assert handed


async def test_a_503_is_retried_after_its_retry_after(graph: Graph) -> None:
    # Graph's 503 says when to come back (1 second here): the client waits that long, not its own backoff.
    patient = RetryPolicy(attempts=2, base_delay=0.01, max_delay=2.0)
    connector = await open_connector(graph, ANN, retry=patient)
    graph.sandbox.faults.script(r"/mailFolders$", Fault.error(503, retry_after=1))
    try:
        started = time.monotonic()
        page = await connector.page(connector.start_cursor(graph.clock.now() - timedelta(days=6)))
        waited = time.monotonic() - started
    finally:
        await connector.aclose()
    assert page.message_ids
    assert waited >= 1.0


async def test_a_server_that_keeps_failing_is_unavailable(graph: Graph) -> None:
    connector = await open_connector(graph, ANN)
    graph.sandbox.faults.chance(r"/mailFolders$", Fault.error(500), probability=1.0)
    try:
        with pytest.raises(Unavailable, match=r"after 4 tries \(HTTP 500"):
            await connector.page(connector.start_cursor(graph.clock.now()))
        # A 503 asking for longer than the longest pause of the policy is left to the engine's back-off.
        graph.sandbox.faults.clear()
        graph.sandbox.faults.script(r"/mailFolders$", Fault.error(503, retry_after=120))
        with pytest.raises(Unavailable, match=r"after 1 tries \(HTTP 503"):
            await connector.page(connector.start_cursor(graph.clock.now()))
    finally:
        await connector.aclose()


async def test_batch_parts_refused_for_concurrency_are_sent_again(
    tenant: Tenant, loopback: LoopbackCertificate
) -> None:
    # Three at a time per mailbox, and slow answers: of a batch's four parallel parts, one is refused.
    policy = replace(GRAPH_POLICY, max_concurrent=3)
    with running(tenant, loopback, quota=policy) as graph:
        graph.sandbox.faults.script(r"/\$value$", Fault.slow(0.05), times=200)
        # The sandbox's concurrency refusals say "Retry-After: 1": the policy lets the client wait that long.
        patient = RetryPolicy(attempts=5, base_delay=0.01, max_delay=1.5)
        connector = await open_connector(graph, ANN, retry=patient)
        wanted = [gid(m) for m in tenant.mailbox(ANN).messages()][:8]
        try:
            bodies = await connector.client.get_mime(wanted)
        finally:
            await connector.aclose()
        counters = graph.sandbox.limiter.counters(graph.key(ANN))
    assert counters.rejected_concurrent > 0
    assert counters.by_method["$value"] == len(wanted)  # only what was admitted counts
    assert set(bodies) == set(wanted)


async def test_a_message_gone_is_left_out(graph: Graph, tenant: Tenant) -> None:
    connector = await open_connector(graph, ANN)
    messages = tenant.mailbox(ANN).messages()[:3]
    gone = messages[1]
    tenant.mailbox(ANN).delete(gone.id)
    try:
        items = await connector.fetch([gid(m) for m in messages], with_body=True)
    finally:
        await connector.aclose()
    assert [item.source for item in items] == [gid(messages[0]), gid(messages[2])]
    assert all(item.raw for item in items)


async def test_an_application_access_policy_is_access_revoked_in_words(graph: Graph) -> None:
    graph.sandbox.policies.restrict(SANDBOX_CLIENT_ID, [BO])
    connector = await open_connector(graph, ANN, app_only=True)
    try:
        with pytest.raises(AccessRevoked, match="application access policy keeps mailtrail's app out"):
            await connector.page(connector.start_cursor(graph.clock.now() - timedelta(days=1)))
    finally:
        await connector.aclose()
    allowed = await open_connector(graph, BO, app_only=True)
    try:
        assert (await allowed.page(allowed.start_cursor(graph.clock.now() - timedelta(days=1)))).message_ids
    finally:
        await allowed.aclose()


async def test_a_token_without_mail_permission_is_access_revoked(graph: Graph) -> None:
    directory_only = frozenset({"User.Read.All"})
    graph.sandbox.identity.register_app("directory-only", "its-secret", app_permissions=directory_only)
    connector = await open_connector(graph, ANN, app_only=True)
    connector.client.tokens.app = graph.app("directory-only", "its-secret")  # type: ignore[attr-defined,unused-ignore]
    try:
        with pytest.raises(AccessRevoked, match=r"no Mail.Read permission for it"):
            await connector.page(connector.start_cursor(graph.clock.now()))
    finally:
        await connector.aclose()


async def test_a_user_without_a_mailbox_says_so(graph: Graph) -> None:
    graph.sandbox.identity.add_user("carl@company.example", "Carl Unlicensed")
    connector = await open_connector(graph, "carl@company.example", app_only=True)
    try:
        with pytest.raises(ProviderError, match="has no Exchange Online mailbox"):
            await connector.page(connector.start_cursor(graph.clock.now()))
    finally:
        await connector.aclose()


async def test_the_tenants_users_are_listed_page_by_page(graph: Graph, spent: Spent) -> None:
    for n in range(3):
        graph.sandbox.identity.add_user(f"user{n}@company.example")
    connector = await open_connector(graph, ANN, app_only=True, spend=spent)
    found: list[str] = []
    try:
        users, link = await connector.client.list_users(page_size=2)
        found += [u["userPrincipalName"] for u in users]
        while link:
            users, link = await connector.client.list_users(link)
            found += [u["userPrincipalName"] for u in users]
    finally:
        await connector.aclose()
    assert sorted(found) == sorted([ANN, BO, *(f"user{n}@company.example" for n in range(3))])
    assert spent.total == 3


async def test_timeouts_and_dropped_connections_are_retried(graph: Graph) -> None:
    async with httpx.AsyncClient(
        timeout=0.3, verify=ssl.create_default_context(cafile=graph.ca_file)
    ) as http:
        connector = await open_connector(graph, ANN, http=http)
        graph.sandbox.faults.script(r"/mailFolders$", Fault.slow(1.0))
        graph.sandbox.faults.script(r"/messages/delta$", Fault.drop())
        page = await connector.page(connector.start_cursor(graph.clock.now() - timedelta(days=6)))
        await connector.aclose()
    assert page.message_ids
    assert graph.sandbox.faults.injected["delay"] == graph.sandbox.faults.injected["drop"] == 1


async def test_links_to_another_host_are_not_followed(graph: Graph) -> None:
    connector = await open_connector(graph, ANN, app_only=True)
    try:
        assert connector.client.relative(f"{graph.base}/v1.0/users?$skiptoken=x") == "/users?$skiptoken=x"
        with pytest.raises(ProviderError, match="link to another host"):
            # The bearer token must never leave for a host that is not Graph's.
            connector.client.relative("https://graph.example.net/v1.0/users?$skiptoken=x")
    finally:
        await connector.aclose()
