"""Fixtures for the sandbox tests: a tenant on a manual clock, a Gmail app served on 127.0.0.1."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import googleapiclient
import httpx
import jsonschema
import pytest

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.generator import GeneratedMail, TrafficGenerator, populate
from mailtrail.sandbox.gmail.app import GmailSandbox, create_gmail_app
from mailtrail.sandbox.quota import GMAIL_POLICY
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

TEAM = ["ann.lee@company.example", "bo.chen@company.example"]
DEV_TOKEN = "dev-token-for-tests"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def traffic() -> list[GeneratedMail]:
    """Three days of generated traffic (made once: generating is the slow part)."""
    return list(TrafficGenerator(TEAM, seed=7).generate(ManualClock().now() - timedelta(days=3), 80))


@pytest.fixture
def tenant(clock: ManualClock, traffic: list[GeneratedMail]) -> Tenant:
    """Two team mailboxes holding the generated traffic."""
    tenant = Tenant(clock)
    for address in TEAM:
        tenant.add_mailbox(address)
    populate(tenant, iter(traffic), clock.now())
    return tenant


@pytest.fixture
def gmail(tenant: Tenant) -> Iterator[tuple[str, GmailSandbox]]:
    """The Gmail app over ``tenant`` at a random port; quota off (the quota tests switch it on)."""
    app = create_gmail_app(
        tenant, quota=GMAIL_POLICY.disabled(), faults=FaultPlan(seed=1), dev_token=DEV_TOKEN
    )
    with serve({"gmail": app}) as urls:
        yield urls["gmail"], app.state.sandbox
    app.state.sandbox.push.close()


@pytest.fixture
def client(gmail: tuple[str, GmailSandbox]) -> Iterator[httpx.Client]:
    base, _ = gmail
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {DEV_TOKEN}"}, timeout=10) as c:
        yield c


def _convert(schema: dict[str, Any]) -> dict[str, Any]:
    """A discovery-document schema as JSON Schema; unknown properties are errors (catches misspelt fields)."""
    out: dict[str, Any] = {}
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    kind = schema.get("type")
    if kind == "object":
        out["type"] = "object"
        if "properties" in schema:
            out["properties"] = {k: _convert(v) for k, v in schema["properties"].items()}
            out["additionalProperties"] = False
        elif "additionalProperties" in schema:
            out["additionalProperties"] = _convert(schema["additionalProperties"])
    elif kind == "array":
        out = {"type": "array", "items": _convert(schema.get("items", {}))}
    elif kind == "integer":
        out = {"type": "integer"}
    elif kind in ("string", "boolean", "number"):
        out = {"type": kind}
        if "enum" in schema:
            out["enum"] = schema["enum"]
    return out


@pytest.fixture(scope="session")
def gmail_discovery() -> dict[str, Any]:
    path = pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def gmail_schema(gmail_discovery: dict[str, Any]):  # type: ignore[no-untyped-def]
    """``check(name, instance)`` validates a response against the discovery schema called ``name``."""
    definitions = {name: _convert(s) for name, s in gmail_discovery["schemas"].items()}

    validators: dict[str, jsonschema.Draft7Validator] = {}

    def check(name: str, instance: Any) -> None:
        if name not in validators:
            validators[name] = jsonschema.Draft7Validator(
                {"$ref": f"#/definitions/{name}", "definitions": definitions}
            )
        validators[name].validate(instance)

    return check
