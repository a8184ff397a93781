"""Password hashing: argon2id, verified in constant time, upgraded when the parameters change."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from mailtrail.auth.errors import InvalidInput
from mailtrail.auth.passwords import hash_password, verify_password

# Cheap parameters, so that the tests are quick; the default hasher is used where it matters.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_a_hash_verifies_its_password_and_nothing_else() -> None:
    stored = hash_password("correct horse battery", FAST)
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert verify_password(stored, "correct horse battery", FAST) == (True, None)
    assert verify_password(stored, "correct horse batterY", FAST) == (False, None)
    assert verify_password(stored, "", FAST) == (False, None)
    # The same password hashes differently each time (a salt of its own).
    assert hash_password("correct horse battery", FAST) != stored


def test_a_hash_made_with_older_parameters_is_replaced_on_the_next_sign_in() -> None:
    old = hash_password("correct horse battery", FAST)
    ok, new = verify_password(old, "correct horse battery")  # today's parameters: argon2-cffi's defaults
    assert ok
    assert new is not None
    assert new != old
    assert PasswordHasher().check_needs_rehash(new) is False
    assert verify_password(new, "correct horse battery") == (True, None)
    # A wrong password never yields a new hash.
    assert verify_password(old, "wrong password here") == (False, None)


def test_no_stored_hash_never_matches() -> None:
    assert verify_password(None, "anything at all", FAST) == (False, None)
    assert verify_password("not a hash", "anything at all", FAST) == (False, None)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "a password needs at least 10 characters"),
        (" " * 12, "a password cannot be only blanks"),
        ("x" * 1025, "a password may have at most 1024 characters"),
    ],
)
def test_unusable_passwords_are_refused_with_a_reason(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        hash_password(password, FAST)
