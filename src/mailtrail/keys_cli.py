"""The commands for the keys that encrypt stored secrets: ``mailtrail keys generate`` and ``keys rotate``."""

from __future__ import annotations

import typer
from sqlalchemy.exc import DBAPIError

from mailtrail.config import Settings
from mailtrail.crm.boundary import CliError, cli_errors, connect, database_session, database_url, shown_url
from mailtrail.secrets import SecretBox, SecretError, generate_key, rotate_all

keys_app = typer.Typer(
    help="The keys that encrypt stored secrets (MAILTRAIL_SECRET_KEYS; the first one encrypts).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` commands to the root app."""
    app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def generate() -> None:
    """Print a new key. Put it first in MAILTRAIL_SECRET_KEYS, then run `mailtrail keys rotate`."""
    typer.echo(generate_key())


@keys_app.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret with the first key, in one transaction; then older keys can go."""
    with cli_errors():
        url = database_url()
        with database_session() as session:
            connect(session)
            try:
                box = SecretBox.from_settings(Settings(), url)
                count = rotate_all(session, box)
            except SecretError as exc:
                raise CliError(str(exc)) from None
            except DBAPIError as exc:
                # Only the driver's first line: SQLAlchemy's own text would list the statement's parameters.
                first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__
                raise CliError(
                    f"cannot rotate the secrets in {shown_url(url)} ({first}): "
                    "is the database initialised (`mailtrail init --workspace NAME`)?"
                ) from None
        # Printed after the commit, so that "can be removed" is true when it is read.
        done = f"Re-encrypted {count} secret(s) with the first key of {box.source}."
        if box.key_count > 1:
            done += " Once every process uses these keys, the keys after the first can be removed."
        typer.echo(done)
