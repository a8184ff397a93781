"""Push: the connector's subscription (created after the validation handshake, renewed, made anew when
removed), and the sandbox's notifications read, their client state checked, as the webhook endpoint will."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mailtrail.providers.microsoft import (
    Notification,
    NotificationRejected,
    WatchState,
    parse_notifications,
    subscription_ids,
    validation_answer,
)
from mailtrail.providers.microsoft.connector import SUBSCRIPTION_LIFETIME
from mailtrail.sandbox.store import Tenant

from .conftest import ANN, BO, Graph, Webhook, open_connector

pytestmark = pytest.mark.anyio
MAIL = (
    b"From: x@northwind.example\r\nTo: ann.lee@company.example\r\nSubject: hi\r\nMessage-ID: <p@x>\r\n\r\nhi"
)


async def _watched(graph: Graph, webhook: Webhook, user: str = ANN, **options: object) -> WatchState:
    connector = await open_connector(
        graph, user, notification_url=webhook.url, lifecycle_url=webhook.lifecycle_url, **options
    )
    try:
        watch = await connector.watch(None)
    finally:
        await connector.aclose()
    assert watch is not None
    assert watch.expires_at == graph.clock.now() + SUBSCRIPTION_LIFETIME
    state = WatchState.load(watch.state)
    assert state is not None
    return state


async def test_a_subscription_is_created_and_its_notifications_read(
    graph: Graph, tenant: Tenant, webhook: Webhook
) -> None:
    state = await _watched(graph, webhook)
    assert len(webhook.validations) == 2  # the notification URL and the lifecycle URL were both validated
    [subscription] = graph.sandbox.hub.active()
    assert subscription.id == state.subscription
    assert subscription.change_types == {"created", "updated"}
    assert subscription.resource == "me/messages"
    assert 16 <= len(state.client_state) <= 128
    assert state.client_state not in repr(state)
    tenant.deliver(MAIL)
    assert graph.sandbox.hub.wait_idle()
    [body] = webhook.received
    assert subscription_ids(body) == {state.subscription}
    [notification] = parse_notifications(json.dumps(body), {state.subscription: state.client_state})
    user = graph.sandbox.identity.find_user(ANN)
    assert user is not None
    assert notification == Notification(state.subscription, user.object_id, change_type="created")


async def test_a_wrong_or_missing_client_state_is_rejected_without_showing_it(
    graph: Graph, tenant: Tenant, webhook: Webhook
) -> None:
    state = await _watched(graph, webhook)
    tenant.deliver(MAIL)
    assert graph.sandbox.hub.wait_idle()
    [body] = webhook.received
    with pytest.raises(NotificationRejected, match="does not carry its client state") as wrong:
        parse_notifications(body, {state.subscription: "another secret"})
    assert state.client_state not in str(wrong.value)
    assert "another secret" not in str(wrong.value)
    with pytest.raises(NotificationRejected, match="unknown subscription"):
        parse_notifications(body, {})
    forged = {"value": [{**body["value"][0], "clientState": None}]}
    with pytest.raises(NotificationRejected, match="does not carry its client state"):
        parse_notifications(forged, {state.subscription: state.client_state})
    with pytest.raises(NotificationRejected, match="not a Graph notification"):
        parse_notifications(b"{}", {state.subscription: state.client_state})


async def test_lifecycle_events_and_renewals(graph: Graph, webhook: Webhook) -> None:
    state = await _watched(graph, webhook)
    expected = {state.subscription: state.client_state}
    for event in ("reauthorizationRequired", "missed"):
        graph.sandbox.hub.lifecycle(state.subscription, event)  # type: ignore[arg-type,unused-ignore]
    assert graph.sandbox.hub.wait_idle()
    events = [parse_notifications(body, expected) for body in webhook.received]
    assert events == [
        [Notification(state.subscription, None, lifecycle_event="reauthorizationRequired")],
        [Notification(state.subscription, None, lifecycle_event="missed")],
    ]
    # Renewal (also the answer to reauthorizationRequired): the same subscription, a later expiry.
    graph.clock.advance(days=3)
    connector = await open_connector(
        graph, ANN, notification_url=webhook.url, lifecycle_url=webhook.lifecycle_url
    )
    try:
        renewed = await connector.watch(state.dump())
        assert renewed is not None
        assert WatchState.load(renewed.state) == state
        assert renewed.expires_at == graph.clock.now() + SUBSCRIPTION_LIFETIME
        # Graph removed the subscription: renewing finds it gone and makes a new one, with a new secret.
        graph.sandbox.hub.lifecycle(state.subscription, "subscriptionRemoved")
        assert graph.sandbox.hub.wait_idle()
        assert parse_notifications(webhook.received[-1], expected)[0].lifecycle_event == "subscriptionRemoved"
        again = await connector.watch(renewed.state)
        assert again is not None
        fresh = WatchState.load(again.state)
        assert fresh is not None
        assert fresh.subscription != state.subscription
        assert fresh.client_state != state.client_state
        assert [s.id for s in graph.sandbox.hub.active()] == [fresh.subscription]
        # Push turned off: the subscription is deleted, and there is no watch.
        connector.notification_url = None
        assert await connector.watch(again.state) is None
        assert graph.sandbox.hub.active() == []
    finally:
        await connector.aclose()


async def test_an_app_subscribes_to_a_users_messages(graph: Graph, webhook: Webhook) -> None:
    state = await _watched(graph, webhook, BO, app_only=True)
    assert state.resource == f"users/{BO}/messages"
    [subscription] = graph.sandbox.hub.active()
    assert subscription.mailbox == BO
    assert graph.sandbox.hub.get(state.subscription) is not None
    assert subscription.expiration - graph.clock.now() <= timedelta(minutes=10_080)


def test_the_validation_handshake_answers_the_token() -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 12"
    assert validation_answer({"validationToken": token}) == token
    assert validation_answer({}) is None
