"""`mailtrail mailbox ...` as an admin uses it: connect by service account, list, status in words, pause,
resume, sync now, disconnect and purge; and the errors a person can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.integration.sync.conftest import DAN, EVE, World, message
from typer.testing import CliRunner

from mailtrail.cli import app

ANN = "Ann Lee <ann@acme.com>"


@pytest.fixture
def cli(world: World):
    settings = world.runtime.settings
    assert settings.secret_keys is not None
    env = {
        "MAILTRAIL_DATABASE_URL": settings.database_url,
        "MAILTRAIL_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "MAILTRAIL_GMAIL_API_URL": settings.gmail_api_url,
        "MAILTRAIL_GOOGLE_TOKEN_URL": settings.google_token_url,
        "MAILTRAIL_GOOGLE_AUTH_URL": settings.google_auth_url,
        "MAILTRAIL_GOOGLE_CLIENT_ID": settings.google_client_id,
        "COLUMNS": "200",
    }

    def run(*args: str, ok: bool = True):
        result = CliRunner().invoke(app, list(args), env=env)
        if ok:
            assert result.exit_code == 0, result.output + str(result.exception)
        return result

    return run


def test_an_admin_connects_syncs_and_manages_mailboxes(world: World, cli, tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(world.key))
    connected = cli(
        "mailbox", "connect", "gmail", "--service-account", str(key), "--user", DAN, "--user", EVE
    )
    assert f"connected {DAN}" in connected.output
    assert "connected" in cli("mailbox", "list").output
    # The commands run on the real clock: the sandbox's mail arrives after the connection, as it would.
    world.clock.set(datetime.now(UTC) + timedelta(seconds=5))
    world.tenant.deliver(message("hello", ANN, DAN))
    assert "up to date" in cli("mailbox", "sync", DAN).output
    status = cli("mailbox", "status", DAN).output
    assert "active" in status
    assert "imported ok 1" in status

    assert f"paused {DAN}" in cli("mailbox", "pause", DAN).output
    assert "paused" in cli("mailbox", "status", DAN).output
    assert "not synced" in cli("mailbox", "sync", DAN).output
    cli("mailbox", "resume", DAN)
    assert f"disconnected {DAN}" in cli("mailbox", "disconnect", DAN).output
    assert "engagements are kept" in cli("mailbox", "disconnect", EVE).output

    refused = cli("mailbox", "purge", DAN, ok=False)
    assert refused.exit_code != 0
    assert "--yes" in refused.output
    assert "deleted 1 engagements" in cli("mailbox", "purge", DAN, "--yes").output
    assert DAN not in cli("mailbox", "list").output


def test_errors_say_what_to_do(world: World, cli, tmp_path: Path) -> None:
    missing = cli("mailbox", "status", "nobody@ourco.com", ok=False)
    assert missing.exit_code == 1
    assert "no synced mailbox nobody@ourco.com" in missing.output
    key = tmp_path / "key.json"
    key.write_text(json.dumps(world.key))
    no_user = cli("mailbox", "connect", "gmail", "--service-account", str(key), ok=False)
    assert "--user" in no_user.output
    bad_key = tmp_path / "bad.json"
    bad_key.write_text("{not json")
    assert "not JSON" in cli("mailbox", "connect", "gmail", "--service-account", str(bad_key), "--user", DAN,
                             ok=False).output  # fmt: skip
    link = cli("mailbox", "connect", "gmail", "--login-hint", DAN).output
    assert "accounts" not in link
    assert "/o/oauth2/v2/auth?" in link
    assert "mailtrail serve" in link
