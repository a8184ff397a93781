"""$batch parts run concurrently (four at a time), wait for their dependsOn, and meet the mailbox quota."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sandbox.graph.conftest import ADA, GraphServer, make_raw

from mailtrail.sandbox.faults import Fault
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID

ADA_KEY = f"{SANDBOX_CLIENT_ID}/{ADA}"


def inbox_gets(count: int) -> list[dict[str, Any]]:
    return [
        {"id": str(n), "method": "GET", "url": f"/users/{ADA}/mailFolders/inbox/messages?$select=subject"}
        for n in range(1, count + 1)
    ]


def test_parts_run_concurrently_four_at_a_time(graph: GraphServer) -> None:
    graph.tenant.deliver(make_raw("Batched"), [ADA])
    # Each part holds its slot for 0.2 s: one after another, the peak would be 1; all at once, 5.
    graph.sandbox.faults.script(r"/inbox/messages$", Fault.slow(0.2), times=5)
    with graph.client(graph.app_token()) as client:
        answer = client.post("/v1.0/$batch", json={"requests": inbox_gets(5)})

    assert answer.status_code == 200
    assert [r["status"] for r in answer.json()["responses"]] == [200] * 5
    # Graph hands Outlook at most four parts of a batch at a time: one batch stays within 4 per mailbox.
    assert graph.sandbox.limiter.counters(ADA_KEY).peak_concurrent == 4


def test_mailbox_concurrency_limit_answers_429_inside_the_batch(graph: GraphServer) -> None:
    limiter = graph.sandbox.limiter
    for _ in range(2):  # two other requests of this app on this mailbox are still running
        limiter.acquire(ADA_KEY)
    graph.sandbox.faults.script(r"/inbox/messages$", Fault.slow(0.2), times=4)
    with graph.client(graph.app_token()) as client:
        answer = client.post("/v1.0/$batch", json={"requests": inbox_gets(4)})
    graph.sandbox.faults.clear()

    assert answer.status_code == 200  # the batch itself succeeds; parts fail on their own
    responses = answer.json()["responses"]
    assert sorted(r["status"] for r in responses) == [200, 200, 429, 429]
    for throttled in (r for r in responses if r["status"] == 429):
        assert throttled["headers"]["Retry-After"] == "1"
        assert throttled["body"]["error"]["code"] == "ApplicationThrottled"
        assert throttled["body"]["error"]["message"] == "Application is over its MailboxConcurrency limit."
    assert limiter.counters(ADA_KEY).rejected_concurrent == 2


def test_depends_on_runs_a_request_after_its_dependency(graph: GraphServer) -> None:
    token = graph.token_for("batch-writer", "Mail.ReadWrite")
    graph.sandbox.faults.script(r"/inbox/messages$", Fault.slow(0.2), method="POST")
    create = {
        "id": "create",
        "method": "POST",
        "url": f"/users/{ADA}/mailFolders/inbox/messages",
        "headers": {"Content-Type": "application/json"},
        "body": {"subject": "Written first"},
    }
    with graph.client(token) as client:
        answer = client.post(
            "/v1.0/$batch",
            json={
                "requests": [
                    create,
                    # ids are not case-sensitive, in dependsOn either
                    {**inbox_gets(1)[0], "id": "after", "dependsOn": ["CREATE"]},
                    {**inbox_gets(1)[0], "id": "alongside"},
                ]
            },
        )

    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert responses["create"]["status"] == 201
    assert [m["subject"] for m in responses["after"]["body"]["value"]] == ["Written first"]
    assert responses["alongside"]["body"]["value"] == []  # ran while the slow create was still going


@pytest.mark.parametrize(
    "depends_on",
    [
        pytest.param("1", id="a string, not an array"),
        pytest.param([1], id="a number"),
        pytest.param(["3"], id="a later request"),
        pytest.param(["nope"], id="an unknown id"),
        pytest.param(["2"], id="itself"),
    ],
)
def test_invalid_depends_on_fails_the_whole_batch(graph: GraphServer, depends_on: object) -> None:
    requests = inbox_gets(3)
    requests[1]["dependsOn"] = depends_on
    with graph.client(graph.app_token()) as client:
        answer = client.post("/v1.0/$batch", json={"requests": requests})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"
    assert "dependsOn" in answer.json()["error"]["message"]


def test_ids_differing_only_in_case_are_duplicates(graph: GraphServer) -> None:
    requests = inbox_gets(2)
    requests[0]["id"], requests[1]["id"] = "a", "A"
    with graph.client(graph.app_token()) as client:
        answer = client.post("/v1.0/$batch", json={"requests": requests})
    assert answer.status_code == 400
    assert "duplicate" in answer.json()["error"]["message"]
