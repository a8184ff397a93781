"""Passwords: argon2id hashes (argon2-cffi's ``PasswordHasher``), verified in constant time, rehashed when the
parameters change.

The defaults are argon2-cffi's (RFC 9106's second recommended profile: 64 MiB, 3 passes, 4 lanes), about
50 ms a hash on a laptop: slow enough to make guessing a stolen hash expensive, fast enough for a sign-in.
"""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mailtrail.auth.errors import InvalidInput

# Looked up at each call rather than bound as a default, so that tests of everything else can swap in cheap
# parameters (the parameters themselves are tested on their own).
HASHER = PasswordHasher()
# NIST SP 800-63B asks for at least 8 characters; a tool holding a company's customer mail asks a little more.
MIN_LENGTH = 10
# Long enough for any passphrase, short enough that hashing it is no denial of service.
MAX_LENGTH = 1024


def check_new_password(password: str) -> str:
    """``password`` if it may be set; ``InvalidInput`` saying why not."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password may have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise InvalidInput("a password cannot be only blanks")
    return password


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """The argon2id hash of ``password`` (salt and parameters included), checked first."""
    return (hasher or HASHER).hash(check_new_password(password))


def verify_password(
    stored: str | None, password: str, hasher: PasswordHasher | None = None
) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored``, and a new hash to store when ``stored`` used other parameters.

    Without a stored hash (no such user, or one who signs in only with Google or Microsoft) a dummy hash is
    verified instead, so that the answer takes as long whether or not the address has a password.
    """
    hasher = hasher or HASHER
    if stored is None or len(password) > MAX_LENGTH:
        _spend_verify_time(password[:MAX_LENGTH], hasher)
        return False, None
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(stored) else None


def _spend_verify_time(password: str, hasher: PasswordHasher) -> None:
    with suppress(VerificationError, InvalidHashError):
        hasher.verify(_dummy_hash(hasher), password)


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not anyone's password")
