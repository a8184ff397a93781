"""Request budgets that every worker shares through the database: the providers' quotas, kept on our side.

A budget is a key (one user's quota at Google, a Google project, one Microsoft mailbox) with sliding windows:
at most ``units`` in any ``seconds``. ``take`` spends units in all the named budgets at once or in none, and
says how long to wait when one has no room. The windows slide like the providers' own (and the sandbox's),
so a sync that keeps within them is never refused; ``margin`` leaves room for clocks that disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.db import transaction
from mailtrail.models import RateBudget, RateSpend


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``units`` in any ``seconds``."""

    units: int
    seconds: float


class Budgets:
    """Spends from database-backed budgets; safe across threads, processes and machines."""

    def __init__(self, sessions: sessionmaker[Session], margin: float = 0.97) -> None:
        self.sessions = sessions
        self.margin = margin

    def take(self, wanted: Mapping[str, Sequence[Limit]], units: int, now: datetime) -> float:
        """Spend ``units`` from every budget in ``wanted`` (key -> its limits) if all have room: returns 0.

        Otherwise spends nothing and returns the seconds until all would have room.
        """
        keys = sorted(wanted)
        with transaction(self.sessions) as session:
            self._lock(session, keys)
            wait = max(
                (self._wait(session, key, limit, units, now) for key in keys for limit in wanted[key]),
                default=0.0,
            )
            if wait > 0:
                return wait
            session.add_all(RateSpend(key=key, at=now, units=units) for key in keys)
            oldest = now - timedelta(seconds=max(limit.seconds for key in keys for limit in wanted[key]))
            session.execute(delete(RateSpend).where(RateSpend.key.in_(keys), RateSpend.at <= oldest))
        return 0.0

    def spent(self, key: str, seconds: float, now: datetime) -> int:
        """Units spent from ``key`` in the last ``seconds`` (for status pages and tests)."""
        with self.sessions() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(RateSpend.units), 0)).where(
                    RateSpend.key == key, RateSpend.at > now - timedelta(seconds=seconds)
                )
            )
        return int(total or 0)

    @staticmethod
    def _lock(session: Session, keys: Sequence[str]) -> None:
        """Make the budgets' rows exist and hold them until the transaction ends (keys in sorted order)."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(insert(RateBudget).on_conflict_do_nothing(), [{"key": key} for key in keys])
        if dialect == "postgresql":
            session.execute(
                text("SELECT key FROM rate_budgets WHERE key = ANY(:keys) ORDER BY key FOR UPDATE"),
                {"keys": list(keys)},
            )
        else:
            # SQLite has one writer at a time: the insert above already holds the write lock; this makes
            # sure of it even when every row existed.
            session.execute(update(RateBudget).where(RateBudget.key == keys[0]).values(key=RateBudget.key))

    def _wait(self, session: Session, key: str, limit: Limit, units: int, now: datetime) -> float:
        """Seconds until ``units`` fit in ``limit`` for ``key`` (0 when they fit now)."""
        capacity = int(limit.units * self.margin)
        if units > capacity:
            raise ValueError(f"{units} units can never fit a budget of {capacity} per {limit.seconds:g} s")
        start = now - timedelta(seconds=limit.seconds)
        spends = session.execute(
            select(RateSpend.at, RateSpend.units)
            .where(RateSpend.key == key, RateSpend.at > start)
            .order_by(RateSpend.at)
        ).all()
        excess = sum(spent for _, spent in spends) + units - capacity
        if excess <= 0:
            return 0.0
        # The window frees room as its oldest spends slide out of it.
        for at, spent in spends:
            excess -= spent
            if excess <= 0:
                return max((at + timedelta(seconds=limit.seconds) - now).total_seconds(), 0.001)
        return limit.seconds
