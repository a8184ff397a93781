"""Subscriptions: the validation handshake, change notifications, renewal, deletion, lifecycle events."""

from __future__ import annotations

from datetime import timedelta

import httpx
from tests.sandbox.graph.conftest import ADA, GraphServer, Webhook, make_raw

from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.graph.shapes import graph_time


def subscribe(
    graph: GraphServer,
    client: httpx.Client,
    hook: Webhook,
    resource: str = f"users/{ADA}/mailFolders('Inbox')/messages",
    minutes: int = 60,
    lifecycle: bool = True,
) -> httpx.Response:
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": hook.url,
        "resource": resource,
        "expirationDateTime": graph_time(graph.clock.now() + timedelta(minutes=minutes)),
        "clientState": "secret-state-42",
    }
    if lifecycle:
        body["lifecycleNotificationUrl"] = hook.url + "/lifecycle"
    return client.post("/v1.0/subscriptions", json=body)


def test_create_validates_the_endpoint_and_notifies_changes(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        created = subscribe(graph, client, webhook)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["clientState"] == "secret-state-42"
    assert sub["changeType"] == "created,updated,deleted"
    assert len(webhook.validations) == 2  # notificationUrl and lifecycleNotificationUrl
    assert webhook.validations[0].startswith("Validation: Testing client application reachability")

    stored = graph.tenant.deliver(make_raw("Notify me"), [ADA])[0]
    box = graph.tenant.mailbox(ADA)
    box.move(stored.id, box.folder_by_name("archive").id)
    assert graph.sandbox.hub.wait_idle()

    items = webhook.items()
    assert [i["changeType"] for i in items] == ["created", "deleted"]  # moved out of the Inbox
    first = items[0]
    assert set(first) == {
        "subscriptionId", "subscriptionExpirationDateTime", "changeType", "resource", "resourceData",
        "clientState", "tenantId",
    }  # fmt: skip
    assert first["subscriptionId"] == sub["id"]
    assert first["clientState"] == "secret-state-42"
    assert first["tenantId"] == graph.sandbox.tenant_id
    data = first["resourceData"]
    assert data["@odata.type"] == "#Microsoft.Graph.Message"
    assert data["@odata.id"] == first["resource"]
    assert first["resource"].endswith(f"/Messages/{data['id']}")
    with graph.client(graph.app_token()) as client:
        fetched = client.get(f"/v1.0/users/{ADA}/messages/{data['id']}")
    assert fetched.status_code == 404  # the default id named the Inbox copy; the message has moved since


def test_endpoint_failing_the_handshake_makes_creation_fail(graph: GraphServer, webhook: Webhook) -> None:
    webhook.mode = "refuse"
    with graph.client(graph.app_token()) as client:
        refused = subscribe(graph, client, webhook, lifecycle=False)
        webhook.mode = "wrong"
        wrong = subscribe(graph, client, webhook, lifecycle=False)
        listed = client.get("/v1.0/subscriptions").json()["value"]

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ValidationError"
    assert "must respond with 200 OK" in refused.json()["error"]["message"]
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "ValidationError"
    assert listed == []


def test_handshake_that_times_out_makes_creation_fail(graph: GraphServer, webhook: Webhook) -> None:
    graph.sandbox.hub.validation_timeout = 0.1  # stands for Graph's 10 seconds
    webhook.mode = "slow"
    with graph.client(graph.app_token()) as client:
        late = subscribe(graph, client, webhook, lifecycle=False)
    assert late.status_code == 400
    assert late.json()["error"]["code"] == "InvalidRequest"
    assert late.json()["error"]["message"] == "Subscription validation request timed out."


def test_expiration_is_limited_to_10080_minutes(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        too_long = subscribe(graph, client, webhook, minutes=10_081)
        longest = subscribe(graph, client, webhook, minutes=10_080)
    assert too_long.status_code == 400
    assert "10080 minutes" in too_long.json()["error"]["message"]
    assert longest.status_code == 201


def test_renew_then_delete(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        sub = subscribe(graph, client, webhook, minutes=30).json()
        later = graph_time(graph.clock.now() + timedelta(days=2))
        renewed = client.patch(f"/v1.0/subscriptions/{sub['id']}", json={"expirationDateTime": later})
        assert renewed.status_code == 200
        assert renewed.json()["expirationDateTime"].startswith(later.rstrip("Z"))
        graph.clock.advance(minutes=45)  # past the first expiry, within the renewed one
        assert client.get(f"/v1.0/subscriptions/{sub['id']}").status_code == 200
        assert client.delete(f"/v1.0/subscriptions/{sub['id']}").status_code == 204
        assert client.get(f"/v1.0/subscriptions/{sub['id']}").status_code == 404

    graph.tenant.deliver(make_raw("Nobody listens"), [ADA])
    assert graph.sandbox.hub.wait_idle()
    assert webhook.items() == []


def test_expired_subscription_stops_notifying(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        subscribe(graph, client, webhook, minutes=50, lifecycle=False)
    graph.clock.advance(minutes=51)
    graph.tenant.deliver(make_raw("Too late"), [ADA])
    assert graph.sandbox.hub.wait_idle()
    assert webhook.items() == []


def test_lifecycle_notifications(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        sub = subscribe(graph, client, webhook, minutes=600).json()
    hub = graph.sandbox.hub

    graph.clock.advance(minutes=61)  # the app token that created the subscription expired
    hub.lifecycle(sub["id"], "subscriptionRemoved")
    assert hub.wait_idle()

    events = [i["lifecycleEvent"] for i in webhook.items()]
    assert events == ["reauthorizationRequired", "subscriptionRemoved"]
    assert all(i["clientState"] == "secret-state-42" for i in webhook.items())
    assert hub.get(sub["id"]) is None


def attempts_at(graph: GraphServer) -> int:
    """How many times the sender has tried the change notification so far (every one answered 500)."""
    assert graph.sandbox.hub.wait_idle()
    return sum(1 for e in graph.sandbox.hub.log.errors if e.endswith("/notify: HTTP 500"))


def test_undeliverable_notification_is_retried_for_4_hours_then_reported_missed(
    graph: GraphServer, webhook: Webhook
) -> None:
    with graph.client(graph.app_token()) as client:
        sub = subscribe(graph, client, webhook, minutes=600).json()
    webhook.mode = "down"  # change notifications fail, the lifecycle endpoint still answers
    graph.tenant.deliver(make_raw("Lost"), [ADA])
    hub = graph.sandbox.hub
    assert attempts_at(graph) == 1

    # Exponential backoff on the sandbox clock: 1, 2, 4 ... minutes after each failure.
    graph.clock.advance(seconds=59)
    assert attempts_at(graph) == 1
    graph.clock.advance(seconds=1)  # 1 minute after the first attempt
    assert attempts_at(graph) == 2
    for expected_attempts, wait in enumerate((2, 4, 8, 16, 32, 64), start=3):
        graph.clock.advance(minutes=wait)
        assert attempts_at(graph) == expected_attempts
    assert hub.log.failed == 0
    assert not [i for i in webhook.items() if i.get("lifecycleEvent") == "missed"]

    graph.clock.advance(
        minutes=240 - 127
    )  # 127 minutes so far; the last attempt comes 4 hours after the first
    assert attempts_at(graph) == 9
    assert hub.log.failed == 1
    assert hub.sender.pending_retries == 0
    missed = [i for i in webhook.items() if i.get("lifecycleEvent") == "missed"]
    assert len(missed) == 1
    assert missed[0]["subscriptionId"] == sub["id"]
    assert missed[0]["resource"] == sub["resource"]


def test_notification_is_delivered_once_the_endpoint_recovers(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        subscribe(graph, client, webhook, lifecycle=False)
    webhook.mode = "down"
    graph.tenant.deliver(make_raw("Late but there"), [ADA])
    assert attempts_at(graph) == 1
    webhook.mode = "echo"
    graph.clock.advance(minutes=1)
    assert graph.sandbox.hub.wait_idle()

    items = webhook.items()
    assert [i["changeType"] for i in items] == ["created"]
    assert graph.sandbox.hub.log.sent == 1
    assert graph.sandbox.hub.log.retried == 1
    assert graph.sandbox.hub.sender.pending_retries == 0


def test_expiration_under_45_minutes_is_raised_to_45(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        created = subscribe(graph, client, webhook, minutes=10, lifecycle=False)
        sub = created.json()
        soon = graph_time(graph.clock.now() + timedelta(minutes=5))
        renewed = client.patch(f"/v1.0/subscriptions/{sub['id']}", json={"expirationDateTime": soon})

    in_45 = graph.clock.now() + timedelta(minutes=45)
    assert created.status_code == 201  # not an error: Graph raises the expiration instead
    assert sub["expirationDateTime"].startswith(in_45.strftime("%Y-%m-%dT%H:%M:%S"))
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"].startswith(in_45.strftime("%Y-%m-%dT%H:%M:%S"))


def test_duplicated_and_reordered_notifications(graph: GraphServer, webhook: Webhook) -> None:
    with graph.client(graph.app_token()) as client:
        subscribe(graph, client, webhook, lifecycle=False)
    faults = graph.sandbox.faults
    faults.push(Fault.duplicate_push())
    graph.tenant.deliver(make_raw("Twice"), [ADA])
    assert graph.sandbox.hub.wait_idle()
    faults.push(Fault.reorder_push())
    graph.tenant.deliver(make_raw("Second"), [ADA])
    graph.tenant.deliver(make_raw("Third"), [ADA])
    assert graph.sandbox.hub.wait_idle()

    ids = [i["resourceData"]["id"] for i in webhook.items()]
    assert len(ids) == 4
    assert ids[0] == ids[1]  # the duplicate
    messages = graph.tenant.mailbox(ADA).messages()  # newest first
    with graph.client(graph.app_token()) as client:
        subjects = {m["id"]: m["subject"] for m in client.get(f"/v1.0/users/{ADA}/messages").json()["value"]}
    assert [subjects[i] for i in ids[2:]] == ["Third", "Second"]  # swapped
    assert len(messages) == 3
