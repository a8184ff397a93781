"""Secrets encrypted at rest (refresh tokens, service-account keys, PKCE verifiers), with rotatable keys.

Where the keys come from, first match wins:

1. ``MAILTRAIL_SECRET_KEYS``: comma-separated Fernet keys; the first encrypts, every one decrypts.
2. ``MAILTRAIL_SECRET_KEY_FILE``: a file holding such keys (commas, spaces or one per line).
3. For a SQLite database file: ``mailtrail.key`` beside it, created on first use (mode 0600), so that the
   embedded default needs no setting at all.

A PostgreSQL database without 1 or 2 is an error rather than a key file made up on the spot: several machines
share such a database, and each would make a key of its own that the others cannot read.

To change keys: put a new key (``mailtrail keys generate``) first in MAILTRAIL_SECRET_KEYS and keep the old
ones after it, run ``mailtrail keys rotate`` (``rotate_all``), then remove the old keys.

No message, repr or error of this module holds a key or a secret.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import inspect, make_url, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailtrail.config import Settings
from mailtrail.models import Credential, OAuthFlow

KEYS_VARIABLE = "MAILTRAIL_SECRET_KEYS"
KEY_FILE_NAME = "mailtrail.key"

# Every ORM column that holds an encrypted value; `rotate_all` re-encrypts them all.
ENCRYPTED_COLUMNS: tuple[InstrumentedAttribute[str], ...] = (Credential.secret, OAuthFlow.verifier)

# A Fernet token is version byte 0x80, timestamp (8), IV (16), at least one AES block (16) and HMAC (32).
_TOKEN_VERSION = 0x80
_TOKEN_MIN_BYTES = 1 + 8 + 16 + 16 + 32
_KEY_SEPARATORS = re.compile(r"[\s,]+")
_GENERATE_HINT = "generate one with `mailtrail keys generate`"


class SecretError(Exception):
    """Missing or malformed keys, or a value no key decrypts. The message says which, never the secret."""


class SecretBox:
    """Encrypts and decrypts secrets with a list of keys: the first (primary) encrypts, every one decrypts."""

    def __init__(self, keys: Sequence[str], *, source: str = KEYS_VARIABLE) -> None:
        """``source`` names where the keys came from, for messages (``MAILTRAIL_SECRET_KEYS``, a key file)."""
        if not keys:
            raise SecretError(f"{source} holds no key: {_GENERATE_HINT}")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:
                # `from None`: the chained error would be the only place left that could quote the key.
                raise SecretError(
                    f"key {position} of {source} is not a Fernet key (32 url-safe base64-encoded bytes): "
                    f"{_GENERATE_HINT}"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)
        self.source = source

    @classmethod
    def from_settings(cls, settings: Settings, database_url: str) -> SecretBox:
        """The keys for this database: MAILTRAIL_SECRET_KEYS, else the key file (see the module docstring)."""
        configured = settings.secret_keys.get_secret_value().strip() if settings.secret_keys else ""
        if configured:
            return cls(_split_keys(configured), source=KEYS_VARIABLE)
        database_file = _sqlite_file(database_url)
        if settings.secret_key_file is not None:
            path = settings.secret_key_file.expanduser()
            # Created only for SQLite, for the reason PostgreSQL gets no default file (module docstring).
            return cls(_read_key_file(path, create=database_file is not None), source=f"the key file {path}")
        if database_file is None:
            shown = make_url(database_url).render_as_string(hide_password=True)
            raise SecretError(
                f"no keys to encrypt secrets in {shown}: set {KEYS_VARIABLE} to a key ({_GENERATE_HINT}), "
                "the same in every process that uses this database, or MAILTRAIL_SECRET_KEY_FILE to a file "
                "holding it"
            )
        path = database_file.parent / KEY_FILE_NAME
        return cls(_read_key_file(path, create=True), source=f"the key file {path}")

    def encrypt(self, text: str) -> str:
        """``text`` encrypted with the primary key, as ASCII fit for a text column."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text that ``token`` encrypts; ``SecretError`` when no key decrypts it."""
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except (InvalidToken, ValueError):
            raise SecretError(self._why_unreadable(token)) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the primary key; ``SecretError`` when no key decrypts it."""
        try:
            return self._fernet.rotate(token).decode("ascii")
        except (InvalidToken, ValueError):
            raise SecretError(self._why_unreadable(token)) from None

    def __repr__(self) -> str:
        return f"SecretBox({self.key_count} key(s) from {self.source})"

    def _why_unreadable(self, token: str) -> str:
        if not _looks_like_token(token):
            return "this value is not an encrypted secret (not a Fernet token): was it stored in clear?"
        return f"this secret was encrypted with a key that is not in {self.source}, or it was altered"


def generate_key() -> str:
    """A new random Fernet key (32 bytes, url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


def rotate_all(session: Session, box: SecretBox) -> int:
    """Re-encrypt every value of every column in ``ENCRYPTED_COLUMNS`` with the primary key; flushes only.

    Returns how many values were rewritten. A value that no key decrypts raises ``SecretError`` naming its
    table, column and row before anything is changed.
    """
    planned: list[tuple[Any, str, str]] = []
    # Every value is decrypted before any is assigned: the session's autoflush would otherwise write the
    # first columns' new values while a later column is still being read.
    for column in ENCRYPTED_COLUMNS:
        mapper = inspect(column.class_)
        # In primary-key order, so that a failure names the same row every time.
        for row in session.scalars(select(column.class_).order_by(*mapper.primary_key)):
            value = getattr(row, column.key)
            if value is None:
                continue
            try:
                planned.append((row, column.key, box.rotate(value)))
            except SecretError as exc:
                ident = inspect(row).identity or ()
                where = ", ".join(f"{c.key}={v}" for c, v in zip(mapper.primary_key, ident, strict=False))
                raise SecretError(
                    f"{mapper.local_table.name}.{column.key} of the row {where}: {exc}; nothing was rotated"
                ) from None
    for row, name, token in planned:
        setattr(row, name, token)
    session.flush()
    return len(planned)


def _split_keys(text: str) -> list[str]:
    return [key for key in _KEY_SEPARATORS.split(text) if key]


def _looks_like_token(token: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= _TOKEN_MIN_BYTES and raw[0] == _TOKEN_VERSION


def _sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _read_key_file(path: Path, *, create: bool) -> list[str]:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        if not create:
            raise SecretError(
                f"the key file {path} does not exist: write a key into it ({_GENERATE_HINT})"
            ) from None
        text = _create_key_file(path)
    except UnicodeDecodeError:
        raise SecretError(f"the key file {path} does not hold Fernet keys (it is not ASCII text)") from None
    except OSError as exc:
        raise SecretError(f"cannot read the key file {path}: {exc.strerror}") from None
    keys = _split_keys(text)
    if not keys:
        raise SecretError(f"the key file {path} is empty: write a key into it ({_GENERATE_HINT})")
    return keys


def _create_key_file(path: Path) -> str:
    """Write a fresh key to ``path`` (mode 0600) unless another process was first; return the file's text.

    The key is written to a temporary file (mkstemp creates it 0600) and published with ``os.link``, which
    fails if ``path`` exists: two processes starting at once both end up with the one complete file.
    """
    text = generate_key() + "\n"
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise SecretError(f"cannot create the key file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text(encoding="ascii")
        return text
    except OSError as exc:
        raise SecretError(f"cannot create the key file {path}: {exc.strerror}") from None
    finally:
        os.unlink(temporary)
