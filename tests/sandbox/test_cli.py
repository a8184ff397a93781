"""``mailtrail sandbox`` as a user runs it: seeded mailboxes served with a dev token, live delivery."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer
from typer.testing import CliRunner

from mailtrail.sandbox.cli import register

ADDRESS = "ann@company.example"


def test_sandbox_command_serves_seeded_mailboxes(tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(
        b"From: zoe@acme.example\r\nTo: bo@company.example\r\nSubject: Seeded\r\n\r\nHello Bo\r\n"
    )
    command = [
        str(Path(sys.executable).parent / "mailtrail"),
        "sandbox",
        "--gmail-port", "0",
        "--graph-port", "0",
        "--seed", f"{ADDRESS}=generated",
        "--seed", f"bo@company.example={eml}",
        "--limit", "20",
        "--deliver-every", "0.2",
        "--dev-token", "let-me-in",
        "--no-quota",
        "--gmail-quota", "legacy",
        "--gmail-publishing-status", "testing",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        output = ""
        deadline = time.monotonic() + 60
        while "Authorization:" not in output and time.monotonic() < deadline and process.poll() is None:
            output += process.stdout.readline() if process.stdout else ""
        assert "seeded bo@company.example: 1 messages" in output
        gmail = re.search(r"Gmail API: (http://127\.0\.0\.1:\d+)", output)
        assert gmail, output
        headers = {"Authorization": "Bearer let-me-in"}
        seeded = httpx.get(
            f"{gmail[1]}/gmail/v1/users/bo@company.example/messages",
            params={"q": "subject:Seeded"},
            headers=headers,
        ).json()
        assert seeded["resultSizeEstimate"] == 1  # (live delivery may have added others meanwhile)
        before = httpx.get(f"{gmail[1]}/gmail/v1/users/{ADDRESS}/profile", headers=headers).json()
        for _ in range(100):  # live delivery: new mail arrives while the sandbox runs
            time.sleep(0.1)
            now = httpx.get(f"{gmail[1]}/gmail/v1/users/{ADDRESS}/profile", headers=headers).json()
            if int(now["historyId"]) > int(before["historyId"]):
                break
        assert int(now["historyId"]) > int(before["historyId"])
        assert httpx.get(f"{gmail[1]}/gmail/v1/users/me/profile").status_code == 401
        keys = re.search(r"Gmail push-token keys: (\S+)", output)
        assert keys, output
        assert "BEGIN CERTIFICATE" in next(iter(httpx.get(keys[1]).json().values()))
        # A script delivers mail to the running sandbox, as tests do with tenant.deliver.
        scripted = b"From: zoe@acme.example\r\nTo: bo@company.example\r\nSubject: Scripted\r\n\r\nHi Bo\r\n"
        delivered = httpx.post(
            f"{gmail[1]}/sandbox/deliver", content=scripted, headers={"Content-Type": "message/rfc822"}
        )
        assert delivered.status_code == 200
        found = httpx.get(
            f"{gmail[1]}/gmail/v1/users/bo@company.example/messages",
            params={"q": "subject:Scripted"},
            headers=headers,
        ).json()
        assert [m["id"] for m in found["messages"]] == [delivered.json()["delivered"][0]["id"]]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_seed_is_a_clear_error(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so that the command is called by name as under `mailtrail`
    register(app)
    result = CliRunner().invoke(
        app, ["sandbox", "--seed", f"{ADDRESS}={tmp_path / 'nope'}"], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 2
    assert "seed path not found" in result.output
    assert "nope" in result.output
    result = CliRunner().invoke(app, ["sandbox", "--seed", "not-an-address"], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "ADDRESS=PATH" in result.output
    result = CliRunner().invoke(app, ["sandbox", "--gmail-quota", "generous"], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "default, legacy" in result.output
