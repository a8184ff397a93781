"""Encrypted columns on a real database: what is stored, ``rotate_all``, and ``mailtrail keys``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from mailtrail.cli import app
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import transaction
from mailtrail.models import Credential, OAuthFlow
from mailtrail.secrets import (
    ENCRYPTED_COLUMNS,
    KEY_FILE_NAME,
    SecretBox,
    SecretError,
    generate_key,
    rotate_all,
)

CLEAR = {
    ("credentials", "ann@ourco.com"): "1//0g-refresh-token-of-ann",
    ("credentials", "sa@project.iam.gserviceaccount.com"): '{"private_key": "-----BEGIN PRIVATE KEY-----"}',
    ("oauth_flows", "state-1"): "pkce-verifier-abcdefghijklmnopqrstuvwxyz",
}
OLD = generate_key()
NEW = generate_key()


def seed(sessions: sessionmaker[Session], box: SecretBox) -> None:
    """A workspace with two credentials and a pending connect flow, their secrets encrypted by ``box``."""
    with transaction(sessions) as session:
        ws = create_workspace(session, "acme-cs", ["ourco.com"])
        for (table, subject), secret in CLEAR.items():
            if table == "credentials":
                kind = "oauth" if subject.startswith("ann") else "service_account"
                session.add(
                    Credential(
                        workspace_id=ws.id,
                        provider="gmail",
                        kind=kind,
                        subject=subject,
                        secret=box.encrypt(secret),
                    )
                )
            else:
                session.add(
                    OAuthFlow(
                        state=subject,
                        workspace_id=ws.id,
                        provider="gmail",
                        verifier=box.encrypt(secret),
                        redirect_uri="http://127.0.0.1/callback",
                        scopes="https://www.googleapis.com/auth/gmail.readonly",
                    )
                )


def stored(sessions: sessionmaker[Session]) -> dict[tuple[str, str], str]:
    """The encrypted columns as the database holds them, read with plain SQL."""
    with sessions() as session:
        rows = session.execute(text("SELECT 'credentials', subject, secret FROM credentials")).all()
        rows += session.execute(text("SELECT 'oauth_flows', state, verifier FROM oauth_flows")).all()
    return {(table, subject): value for table, subject, value in rows}


def test_the_registry_names_both_encrypted_columns() -> None:
    assert {(c.class_.__tablename__, c.key) for c in ENCRYPTED_COLUMNS} == {
        ("credentials", "secret"),
        ("oauth_flows", "verifier"),
    }


def test_stored_values_never_hold_the_clear_secret(sessions: sessionmaker[Session]) -> None:
    box = SecretBox([OLD])
    seed(sessions, box)
    values = stored(sessions)
    assert values.keys() == CLEAR.keys()
    for where, value in values.items():
        assert CLEAR[where] not in value
        assert box.decrypt(value) == CLEAR[where]


def test_rotate_all_moves_every_secret_to_the_new_key(sessions: sessionmaker[Session]) -> None:
    seed(sessions, SecretBox([OLD]))
    before = stored(sessions)
    with transaction(sessions) as session:
        assert rotate_all(session, SecretBox([NEW, OLD])) == len(CLEAR)
    after = stored(sessions)
    new_only, old_only = SecretBox([NEW]), SecretBox([OLD])
    for where, value in after.items():
        assert value != before[where]
        assert CLEAR[where] not in value
        assert new_only.decrypt(value) == CLEAR[where]
        with pytest.raises(SecretError):
            old_only.decrypt(value)


def test_rotate_all_of_nothing_rewrites_nothing(session: Session) -> None:
    assert rotate_all(session, SecretBox([NEW])) == 0


def test_an_unreadable_value_stops_the_rotation_and_changes_nothing(sessions: sessionmaker[Session]) -> None:
    seed(sessions, SecretBox([OLD]))
    stranger = SecretBox([generate_key()]).encrypt("secret under a lost key")
    with transaction(sessions) as session:
        ws_id = session.scalars(text("SELECT id FROM workspaces")).one()
        lost = Credential(workspace_id=ws_id, provider="microsoft", kind="client_secret", subject="app-1")
        lost.secret = stranger
        session.add(lost)
    before = stored(sessions)

    with sessions() as session:
        with pytest.raises(SecretError) as error:
            rotate_all(session, SecretBox([NEW, OLD]))
        assert not session.dirty
        session.rollback()
    message = str(error.value)
    assert f"credentials.secret of the row id={lost.id}" in message
    assert "not in MAILTRAIL_SECRET_KEYS" in message
    assert "nothing was rotated" in message
    assert stranger not in message
    assert stored(sessions) == before


def test_a_verifier_stored_in_clear_is_named_by_its_row(sessions: sessionmaker[Session]) -> None:
    seed(sessions, SecretBox([OLD]))
    with transaction(sessions) as session:
        session.execute(text("UPDATE oauth_flows SET verifier = 'plain-verifier' WHERE state = 'state-1'"))
    with pytest.raises(SecretError) as error, transaction(sessions) as session:
        rotate_all(session, SecretBox([NEW, OLD]))
    assert "oauth_flows.verifier of the row state=state-1: this value is not an encrypted secret" in str(
        error.value
    )
    assert "plain-verifier" not in str(error.value)


class Keys:
    """Runs ``mailtrail keys ...`` against one database with the given MAILTRAIL_SECRET_KEYS."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    def __call__(self, *args: str, keys: str | None, code: int = 0) -> Result:
        # None unsets a variable, so that a developer's own environment cannot leak in.
        env = {
            "MAILTRAIL_DATABASE_URL": self.db_url,
            "MAILTRAIL_SECRET_KEYS": keys,
            "MAILTRAIL_SECRET_KEY_FILE": None,
        }
        result = CliRunner(env=env).invoke(app, ["keys", *args])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        output = result.stdout + result.stderr
        assert "Traceback" not in output
        if code:
            assert result.stderr.startswith("error: ")
        if args != ("generate",):
            for secret in [OLD, NEW, *CLEAR.values()]:
                assert secret not in output
        return result


@pytest.fixture
def keys(db_url: str) -> Keys:
    return Keys(db_url)


def test_keys_generate_prints_a_new_key_each_time() -> None:
    runner = CliRunner()
    printed = {runner.invoke(app, ["keys", "generate"]).stdout.strip() for _ in range(3)}
    assert len(printed) == 3
    for key in printed:
        Fernet(key)


def test_keys_rotate_rewrites_every_secret_with_the_first_key(
    keys: Keys, sessions: sessionmaker[Session]
) -> None:
    seed(sessions, SecretBox([OLD]))
    out = keys("rotate", keys=f"{NEW},{OLD}").stdout
    assert f"Re-encrypted {len(CLEAR)} secret(s) with the first key of MAILTRAIL_SECRET_KEYS." in out
    assert "the keys after the first can be removed" in out
    new_only = SecretBox([NEW])
    for where, value in stored(sessions).items():
        assert new_only.decrypt(value) == CLEAR[where]
    # Once more with the new key alone: still readable, nothing more to remove.
    out = keys("rotate", keys=NEW).stdout
    assert out.strip() == f"Re-encrypted {len(CLEAR)} secret(s) with the first key of MAILTRAIL_SECRET_KEYS."


def test_keys_rotate_with_a_removed_key_fails_and_changes_nothing(
    keys: Keys, sessions: sessionmaker[Session]
) -> None:
    seed(sessions, SecretBox([OLD]))
    before = stored(sessions)
    err = keys("rotate", keys=NEW, code=1).stderr
    # Rows are read in primary-key order, so the first credential is the one named.
    assert "credentials.secret of the row id=1:" in err
    assert "encrypted with a key that is not in MAILTRAIL_SECRET_KEYS" in err
    assert stored(sessions) == before


def test_keys_rotate_with_a_malformed_key_names_it_by_position(keys: Keys, db_url: str) -> None:
    err = keys("rotate", keys=f"{NEW},hunter2-not-a-key", code=1).stderr
    assert "key 2 of MAILTRAIL_SECRET_KEYS is not a Fernet key" in err
    assert "hunter2" not in err


def test_keys_rotate_without_keys(keys: Keys, db_url: str) -> None:
    database = make_url(db_url).database
    if make_url(db_url).get_backend_name() == "sqlite":
        assert database is not None
        out = keys("rotate", keys=None).stdout
        key_file = Path(database).parent / KEY_FILE_NAME
        assert f"Re-encrypted 0 secret(s) with the first key of the key file {key_file}." in out
        assert key_file.is_file()
    else:
        err = keys("rotate", keys=None, code=1).stderr
        assert "set MAILTRAIL_SECRET_KEYS" in err
        assert "mailtrail keys generate" in err


def test_keys_rotate_on_an_uninitialised_sqlite_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    err = Keys(f"sqlite:///{empty}")("rotate", keys=NEW, code=1).stderr
    assert "is the database initialised" in err
