"""JSON batching, the Outlook quotas (10,000 requests per 10 minutes, 4 concurrent), and injected faults."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from tests.sandbox.graph.conftest import ADA, BOB, GraphServer, make_raw

from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID


def test_batch_answers_each_request_by_id(graph: GraphServer) -> None:
    raw = make_raw("Batched")
    graph.tenant.deliver(raw, [ADA])
    with graph.client(graph.app_token()) as client:
        msg_id = client.get(f"/v1.0/users/{ADA}/messages").json()["value"][0]["id"]
        answer = client.post(
            "/v1.0/$batch",
            json={
                "requests": [
                    {"id": "1", "method": "GET", "url": f"/users/{ADA}/mailFolders/inbox"},
                    {"id": "2", "method": "GET", "url": f"/users/{ADA}/messages/{msg_id}?$select=subject"},
                    {"id": "3", "method": "GET", "url": f"/users/{ADA}/messages/{msg_id}/$value"},
                    {"id": "4", "method": "GET", "url": "/users/nobody@example.com/messages"},
                    {"id": "5", "method": "GET", "url": f"/users/{BOB}/messages", "dependsOn": ["4"]},
                ]
            },
        )
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert responses["1"]["status"] == 200
    assert responses["1"]["body"]["displayName"] == "Inbox"
    assert responses["2"]["body"]["subject"] == "Batched"
    assert base64.b64decode(responses["3"]["body"]) == raw  # non-JSON bodies come back base64-encoded
    assert responses["4"]["status"] == 404
    assert responses["4"]["body"]["error"]["code"] == "ErrorInvalidUser"
    assert responses["5"]["status"] == 424


def test_batch_of_more_than_20_is_refused(graph: GraphServer) -> None:
    requests = [{"id": str(n), "method": "GET", "url": f"/users/{ADA}/messages"} for n in range(21)]
    with graph.client(graph.app_token()) as client:
        answer = client.post("/v1.0/$batch", json={"requests": requests})
        malformed = client.post(
            "/v1.0/$batch", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400
    assert "20" in answer.json()["error"]["message"]
    assert malformed.status_code == 400


def test_ten_thousand_requests_per_ten_minutes_per_mailbox(graph: GraphServer) -> None:
    limiter = graph.sandbox.limiter
    key = f"{SANDBOX_CLIENT_ID}/{ADA}"
    for _ in range(9_999):  # the same window the HTTP requests share, filled without 9,999 round trips
        limiter.acquire(key)
        limiter.release(key)

    with graph.client(graph.app_token()) as client:
        last = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox")
        over = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox")
        other_mailbox = client.get(f"/v1.0/users/{BOB}/mailFolders/inbox")
        graph.clock.advance(600)
        after_window = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox")

    assert last.status_code == 200
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "ApplicationThrottled"
    assert int(over.headers["Retry-After"]) == 600
    assert other_mailbox.status_code == 200
    assert after_window.status_code == 200
    assert limiter.counters(key).requests == 10_001
    assert limiter.counters(key).rejected == 1


def test_four_concurrent_requests_per_mailbox(graph: GraphServer) -> None:
    limiter = graph.sandbox.limiter
    key = f"{SANDBOX_CLIENT_ID}/{ADA}"
    for _ in range(4):  # four requests of this app on this mailbox still running
        limiter.acquire(key)

    with graph.client(graph.app_token()) as client:
        fifth = client.get(f"/v1.0/users/{ADA}/messages")
        limiter.release(key)
        after_one_ended = client.get(f"/v1.0/users/{ADA}/messages")

    assert fifth.status_code == 429
    assert fifth.json()["error"]["message"] == "Application is over its MailboxConcurrency limit."
    assert fifth.headers["Retry-After"] == "1"
    assert after_one_ended.status_code == 200


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.error(500), 500, "generalException"),
        (Fault.error(503, retry_after=7), 503, "serviceNotAvailable"),
        (Fault.throttled(3), 429, "ApplicationThrottled"),
        (Fault.expired_token(), 401, "InvalidAuthenticationToken"),
    ],
)
def test_error_faults_on_demand(graph: GraphServer, fault: Fault, status: int, code: str) -> None:
    graph.sandbox.faults.script(r"/messages$", fault)
    with graph.client(graph.app_token()) as client:
        failed = client.get(f"/v1.0/users/{ADA}/messages", headers={"client-request-id": "my-request-42"})
        recovered = client.get(f"/v1.0/users/{ADA}/messages")
    assert failed.status_code == status
    error = failed.json()["error"]
    assert error["code"] == code
    if status in (429, 503):
        assert int(failed.headers["Retry-After"]) >= 1
    assert recovered.status_code == 200


def test_dropped_connection_malformed_body_and_slow_response(graph: GraphServer) -> None:
    faults = graph.sandbox.faults
    with graph.client(graph.app_token()) as client:
        faults.script(r"/messages$", Fault.drop())
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"/v1.0/users/{ADA}/messages")
        faults.script(r"/messages$", Fault.malformed())
        malformed = client.get(f"/v1.0/users/{ADA}/messages")
        with pytest.raises(json.JSONDecodeError):
            malformed.json()
        faults.script(r"/messages$", Fault.slow(0.2))
        slow = client.get(f"/v1.0/users/{ADA}/messages")
    assert slow.status_code == 200
    assert faults.injected["drop"] == 1
    assert faults.injected["delay"] == 1


def test_faults_scripted_and_quota_read_over_http(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        added = client.post("/sandbox/faults", json={"path": "/messages$", "kind": "status", "status": 503})
        failed = client.get(f"/v1.0/users/{ADA}/messages")
        served = client.get(f"/v1.0/users/{ADA}/messages")
        counters = client.get("/sandbox/quota").json()

    assert added.status_code == 201
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "serviceNotAvailable"
    assert served.status_code == 200
    assert counters["byKey"][f"{SANDBOX_CLIENT_ID}/{ADA}"]["requests"] == 2
