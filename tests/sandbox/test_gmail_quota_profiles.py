"""Gmail's two quota profiles: today's 6,000 units per user per minute, and the legacy limits."""

from __future__ import annotations

import re

import httpx
import pytest

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.gmail.app import create_gmail_app
from mailtrail.sandbox.server import serve
from mailtrail.sandbox.store import Tenant

from .conftest import DEV_TOKEN, TEAM

ANN = TEAM[0]
GOOGLE_MESSAGE = re.compile(
    r"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service "
    r"'gmail\.googleapis\.com' for consumer 'project_number:\d+'\."
)


def test_default_profile_is_6000_units_per_user_per_minute(tenant: Tenant, clock: ManualClock) -> None:
    app = create_gmail_app(tenant, dev_token=DEV_TOKEN)  # the default profile
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    message_id = tenant.mailbox(ANN).messages()[0].id
    with serve({"gmail": app}) as urls, httpx.Client(base_url=urls["gmail"], headers=headers) as client:
        get = f"/gmail/v1/users/{ANN}/messages/{message_id}"
        # No per-second limit any more: 60 messages.get (300 units) in the same instant all pass.
        assert {client.get(get).status_code for _ in range(60)} == {200}
        limiter = app.state.sandbox.limiter
        limiter.acquire(ANN, 6_000 - 300 - 5, "earlier calls")  # leave room for one more get this minute
        limiter.release(ANN)
        assert client.get(get).status_code == 200
        over = client.get(get)
        assert over.status_code == 403
        error = over.json()["error"]
        assert GOOGLE_MESSAGE.fullmatch(error["message"])
        assert error["errors"] == [
            {"message": error["message"], "domain": "usageLimits", "reason": "rateLimitExceeded"}
        ]
        assert error["status"] == "PERMISSION_DENIED"
        assert client.get(f"/gmail/v1/users/{TEAM[1]}/profile").status_code == 200  # per user
        clock.advance(59)
        assert client.get(get).status_code == 403  # still within the minute
        clock.advance(1)
        assert client.get(get).status_code == 200
    app.state.sandbox.push.close()


def test_legacy_profile_by_name_keeps_250_units_a_second(tenant: Tenant, clock: ManualClock) -> None:
    app = create_gmail_app(tenant, quota="legacy", dev_token=DEV_TOKEN)
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    with serve({"gmail": app}) as urls, httpx.Client(base_url=urls["gmail"], headers=headers) as client:
        statuses = [client.get(f"/gmail/v1/users/{ANN}/messages").status_code for _ in range(51)]
        assert statuses == [200] * 50 + [403]  # messages.list costs 5 units
        clock.advance(1)
        assert client.get(f"/gmail/v1/users/{ANN}/messages").status_code == 200
    app.state.sandbox.push.close()
    with pytest.raises(ValueError, match="unknown Gmail quota profile"):
        create_gmail_app(tenant, quota="generous")
