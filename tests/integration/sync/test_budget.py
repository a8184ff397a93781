"""Request budgets shared through the database: sliding windows like the providers', all-or-nothing spends,
and the wait until room comes back; several threads spending at once never overspend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from mailtrail.sync.budget import Budgets, Limit

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PER_MINUTE = [Limit(100, 60.0)]


def test_spends_until_the_window_is_full_then_says_how_long_to_wait(sessions) -> None:
    budgets = Budgets(sessions, margin=1.0)
    assert budgets.take({"user": PER_MINUTE}, 60, T0) == 0
    assert budgets.take({"user": PER_MINUTE}, 40, T0 + timedelta(seconds=10)) == 0
    # Full: the first 60 units leave the window 60 s after they were spent.
    wait = budgets.take({"user": PER_MINUTE}, 30, T0 + timedelta(seconds=20))
    assert wait == pytest.approx(40.0)
    assert budgets.spent("user", 60, T0 + timedelta(seconds=20)) == 100
    assert budgets.take({"user": PER_MINUTE}, 30, T0 + timedelta(seconds=60, milliseconds=1)) == 0


def test_a_spend_is_all_or_nothing_across_budgets(sessions) -> None:
    budgets = Budgets(sessions, margin=1.0)
    assert budgets.take({"project": [Limit(1000, 60)], "user": PER_MINUTE}, 100, T0) == 0
    assert budgets.take({"project": [Limit(1000, 60)], "user": PER_MINUTE}, 10, T0) > 0
    # The user budget refused: the project budget was not charged either.
    assert budgets.spent("project", 60, T0) == 100


def test_per_second_and_per_minute_limits_together(sessions) -> None:
    """Gmail's legacy profile: 250 units per second and 15,000 per minute, per user."""
    budgets = Budgets(sessions, margin=1.0)
    limits = [Limit(250, 1.0), Limit(15_000, 60.0)]
    assert budgets.take({"user": limits}, 250, T0) == 0
    assert budgets.take({"user": limits}, 5, T0 + timedelta(milliseconds=500)) == pytest.approx(0.5)


def test_the_margin_keeps_some_room_for_clocks_that_disagree(sessions) -> None:
    budgets = Budgets(sessions, margin=0.9)
    assert budgets.take({"user": PER_MINUTE}, 90, T0) == 0
    assert budgets.take({"user": PER_MINUTE}, 1, T0) > 0


def test_more_than_a_window_can_ever_hold_is_an_error(sessions) -> None:
    with pytest.raises(ValueError, match="can never fit"):
        Budgets(sessions, margin=1.0).take({"user": PER_MINUTE}, 101, T0)


def test_threads_spending_at_once_never_overspend(sessions) -> None:
    """Eight workers race for a budget of 100 units: exactly 20 spends of 5 succeed."""
    budgets = Budgets(sessions, margin=1.0)
    granted: list[int] = []
    start = threading.Barrier(8)

    def spend() -> None:
        start.wait()
        for _ in range(10):
            if budgets.take({"user": PER_MINUTE}, 5, T0) == 0:
                granted.append(5)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(granted) == 100
    assert budgets.spent("user", 60, T0) == 100
