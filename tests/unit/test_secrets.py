"""SecretBox: round trips, clear errors that quote nothing secret, rotation, and where the keys come from."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from mailtrail.config import Settings
from mailtrail.secrets import KEY_FILE_NAME, SecretBox, SecretError, _create_key_file, generate_key

SECRET = "1//0g-refresh-token-of-ann"
POSTGRES_URL = "postgresql+psycopg://mailtrail:hunter2@db.internal/mailtrail"


@pytest.fixture(autouse=True)
def _no_keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings() reads the environment: a developer's own keys must not change what these tests see.
    monkeypatch.delenv("MAILTRAIL_SECRET_KEYS", raising=False)
    monkeypatch.delenv("MAILTRAIL_SECRET_KEY_FILE", raising=False)


def settings(keys: str | None = None, key_file: Path | None = None) -> Settings:
    return Settings(secret_keys=SecretStr(keys) if keys is not None else None, secret_key_file=key_file)


def assert_quotes_nothing(message: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in message


def test_round_trip_keeps_any_text_and_the_token_hides_it() -> None:
    box = SecretBox([generate_key()])
    for text in (SECRET, "", "clé privée ☃\n{json: true}", "x" * 10_000):
        token = box.encrypt(text)
        assert token.isascii()
        assert box.decrypt(token) == text
        if text:
            assert text not in token
    # A fresh IV each time: equal secrets are not equal tokens.
    assert box.encrypt(SECRET) != box.encrypt(SECRET)


def test_a_token_of_a_removed_key_is_a_clear_error_quoting_nothing() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt(SECRET)
    with pytest.raises(
        SecretError, match="encrypted with a key that is not in MAILTRAIL_SECRET_KEYS"
    ) as error:
        SecretBox([new]).decrypt(token)
    assert_quotes_nothing(str(error.value), SECRET, token, old, new)
    assert error.value.__cause__ is None


def test_a_value_stored_in_clear_is_named_as_such() -> None:
    box = SecretBox([generate_key()])
    for value in (SECRET, "", "héllo"):
        with pytest.raises(SecretError, match="not an encrypted secret") as error:
            box.decrypt(value)
        assert_quotes_nothing(str(error.value), SECRET)


def test_a_tampered_token_does_not_decrypt() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt(SECRET)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(SecretError, match="or it was altered"):
        box.decrypt(tampered)


def test_rotation_moves_a_secret_to_the_new_primary_key() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt(SECRET)
    both = SecretBox([new, old])
    assert both.decrypt(token) == SECRET
    rotated = both.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == SECRET
    with pytest.raises(SecretError):
        SecretBox([old]).decrypt(rotated)
    # New secrets are encrypted with the first key.
    assert SecretBox([new]).decrypt(both.encrypt(SECRET)) == SECRET


def test_rotate_of_an_unreadable_token_is_the_same_clear_error() -> None:
    token = SecretBox([generate_key()]).encrypt(SECRET)
    with pytest.raises(SecretError, match="not in MAILTRAIL_SECRET_KEYS"):
        SecretBox([generate_key()]).rotate(token)


def test_malformed_or_missing_keys_are_named_by_position_not_quoted() -> None:
    good = generate_key()
    bad = "not-a-key-but-maybe-a-password"
    with pytest.raises(SecretError, match="key 2 of MAILTRAIL_SECRET_KEYS is not a Fernet key") as error:
        SecretBox([good, bad])
    assert_quotes_nothing(str(error.value), good, bad)
    assert "mailtrail keys generate" in str(error.value)
    with pytest.raises(SecretError, match="holds no key"):
        SecretBox([])


def test_generate_key_gives_distinct_fernet_keys() -> None:
    keys = {generate_key() for _ in range(5)}
    assert len(keys) == 5
    for key in keys:
        Fernet(key)


def test_repr_shows_no_key() -> None:
    key = generate_key()
    box = SecretBox([key])
    assert key not in repr(box)
    assert "1 key(s) from MAILTRAIL_SECRET_KEYS" in repr(box)


def test_keys_from_settings_first_is_primary_and_spaces_are_forgiven(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt(SECRET)
    box = SecretBox.from_settings(settings(f" {new} ,\n{old} "), POSTGRES_URL)
    assert box.key_count == 2
    assert SecretBox([new]).decrypt(box.encrypt(SECRET)) == SECRET
    assert box.decrypt(token) == SECRET
    # Keys configured: no key file appears beside a SQLite database.
    SecretBox.from_settings(settings(new), f"sqlite:///{tmp_path / 'mailtrail.db'}")
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_settings_read_both_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = generate_key()
    monkeypatch.setenv("MAILTRAIL_SECRET_KEYS", key)
    monkeypatch.setenv("MAILTRAIL_SECRET_KEY_FILE", str(tmp_path / "keys"))
    read = Settings()
    assert read.secret_keys is not None
    assert read.secret_keys.get_secret_value() == key
    assert key not in repr(read)
    assert read.secret_key_file == tmp_path / "keys"


def test_sqlite_default_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mailtrail.db'}"
    first = SecretBox.from_settings(settings(), url)
    key_file = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_text()
    token = first.encrypt(SECRET)

    again = SecretBox.from_settings(settings(), url)
    assert again.decrypt(token) == SECRET
    assert key_file.read_text() == content
    assert str(key_file) in again.source
    # Only the key file: no temporary file left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME]
    # A blank MAILTRAIL_SECRET_KEYS counts as unset.
    assert SecretBox.from_settings(settings("  "), url).decrypt(token) == SECRET


def test_a_relative_sqlite_url_puts_the_key_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    SecretBox.from_settings(settings(), "sqlite:///mailtrail.db")
    assert (tmp_path / KEY_FILE_NAME).is_file()


def test_the_unreadable_error_names_the_key_file(tmp_path: Path) -> None:
    box = SecretBox.from_settings(settings(), f"sqlite:///{tmp_path / 'mailtrail.db'}")
    token = SecretBox([generate_key()]).encrypt(SECRET)
    with pytest.raises(SecretError, match=re.escape(f"not in the key file {tmp_path / KEY_FILE_NAME}")):
        box.decrypt(token)


def test_a_configured_key_file_holds_several_keys(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"{new}\n{old}\n")
    box = SecretBox.from_settings(settings(key_file=key_file), POSTGRES_URL)
    assert box.key_count == 2
    assert box.decrypt(SecretBox([old]).encrypt(SECRET)) == SECRET
    assert SecretBox([new]).decrypt(box.encrypt(SECRET)) == SECRET


def test_a_configured_key_file_is_created_for_sqlite_only(tmp_path: Path) -> None:
    key_file = tmp_path / "missing.key"
    with pytest.raises(SecretError, match="does not exist"):
        SecretBox.from_settings(settings(key_file=key_file), POSTGRES_URL)
    assert not key_file.exists()
    SecretBox.from_settings(settings(key_file=key_file), f"sqlite:///{tmp_path / 'x.db'}")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_an_empty_or_bad_key_file_is_a_clear_error(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("\n")
    with pytest.raises(SecretError, match="is empty"):
        SecretBox.from_settings(settings(key_file=key_file), POSTGRES_URL)
    key_file.write_text("s3cret-password\n")
    with pytest.raises(
        SecretError, match=re.escape(f"key 1 of the key file {key_file} is not a Fernet key")
    ) as error:
        SecretBox.from_settings(settings(key_file=key_file), POSTGRES_URL)
    assert "s3cret-password" not in str(error.value)


def test_postgres_without_keys_says_what_to_set_and_hides_the_password() -> None:
    with pytest.raises(SecretError) as error:
        SecretBox.from_settings(settings(), POSTGRES_URL)
    message = str(error.value)
    assert "set MAILTRAIL_SECRET_KEYS" in message
    assert "mailtrail keys generate" in message
    assert "db.internal/mailtrail" in message
    assert "hunter2" not in message


def test_in_memory_sqlite_without_keys_is_the_same_error() -> None:
    with pytest.raises(SecretError, match="set MAILTRAIL_SECRET_KEYS"):
        SecretBox.from_settings(settings(), "sqlite://")


def test_a_missing_database_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="cannot create the key file"):
        SecretBox.from_settings(settings(), f"sqlite:///{tmp_path / 'nowhere' / 'mailtrail.db'}")


def test_when_another_process_created_the_key_file_first_its_key_wins(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE_NAME
    theirs = generate_key() + "\n"
    key_file.write_text(theirs)
    assert _create_key_file(key_file) == theirs
    assert key_file.read_text() == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE_NAME]
