"""The `mailtrail` command. Each domain keeps its own commands; this module only assembles them."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mailtrail",
    help="Customer email from Gmail and Microsoft 365, kept as engagements on people and accounts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from mailtrail.auth.cli import register as register_auth
    from mailtrail.crm.cli import register as register_crm
    from mailtrail.engagements.cli import register as register_engagements
    from mailtrail.keys_cli import register as register_keys
    from mailtrail.sandbox.cli import register as register_sandbox
    from mailtrail.sync.cli import register as register_sync

    register_auth(app)
    register_crm(app)
    register_engagements(app)
    register_keys(app)
    register_sandbox(app)
    register_sync(app)


_register()
