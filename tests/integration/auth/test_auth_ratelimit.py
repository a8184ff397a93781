"""Failed sign-ins are limited per address (5 in 15 minutes) and per client IP (30): the next attempt is
refused, with when to try again, even with the right password."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.served import ADMIN, ADMIN_PASSWORD, MEMBER, MEMBER_PASSWORD, AppWorld

from mailtrail.auth.ratelimit import record_attempt
from mailtrail.db import transaction


def test_the_sixth_attempt_waits_even_with_the_right_password(world: AppWorld) -> None:
    with world.client() as http:
        first = world.clock.now()
        for n in range(5):
            assert world.sign_in(http, ADMIN, f"guess number {n}").status_code == 401
            world.clock.advance(60)
        refused = world.sign_in(http, ADMIN, ADMIN_PASSWORD)
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "too_many_attempts"
        # The first failure leaves the 15-minute window at 09:15; it is 09:05 now.
        retry_at = first + timedelta(minutes=15)
        assert error["message"] == (
            "too many failed sign-ins for this address: "
            f"try again after {retry_at:%H:%M} UTC (in 10 minutes), or ask an admin to set a new password"
        )
        assert refused.headers["retry-after"] == "600"
        assert "set-cookie" not in refused.headers

        # Another address from the same browser is not held up.
        assert world.sign_in(http, MEMBER, MEMBER_PASSWORD).status_code == 201

        # Waiting is enough: refused attempts did not extend the wait.
        world.clock.advance(9 * 60 + 59)
        assert world.sign_in(http, ADMIN, ADMIN_PASSWORD).status_code == 429
        world.clock.advance(1)
        assert world.sign_in(http, ADMIN, ADMIN_PASSWORD).status_code == 201


def test_a_successful_sign_in_clears_the_failures_of_its_address(world: AppWorld) -> None:
    with world.client() as http:
        for n in range(4):
            assert world.sign_in(http, ADMIN, f"typo {n}").status_code == 401
        assert world.sign_in(http, ADMIN, ADMIN_PASSWORD).status_code == 201
        for n in range(4):
            assert world.sign_in(http, ADMIN, f"typo again {n}").status_code == 401
        # Eight failures in the window, but only four since the success: still allowed.
        assert world.sign_in(http, ADMIN, ADMIN_PASSWORD).status_code == 201


def test_unknown_addresses_count_too(world: AppWorld) -> None:
    with world.client() as http:
        for _ in range(5):
            assert world.sign_in(http, "nobody@ourco.com", "whatever it is").status_code == 401
        # Unknown or not, the answer is the same: the limit does not tell who has a user.
        assert world.sign_in(http, "nobody@ourco.com", "whatever it is").status_code == 429


def test_one_client_ip_guessing_at_many_addresses_is_stopped(world: AppWorld) -> None:
    # 26 failures from this machine's address already (as over HTTP, without a second of hashing each).
    with transaction(world.runtime.sessions) as session:
        for n in range(26):
            record_attempt(session, f"earlier{n}@ourco.com", "127.0.0.1", False, world.clock.now())
    with world.client() as http:
        for n in range(4):
            assert world.sign_in(http, f"user{n}@ourco.com", "guess").status_code == 401
        # No address reached its own limit, but this client made 30 failed attempts.
        refused = world.sign_in(http, MEMBER, MEMBER_PASSWORD)
        assert refused.status_code == 429
        assert "for your network address" in refused.json()["error"]["message"]
