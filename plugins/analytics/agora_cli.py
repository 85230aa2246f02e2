"""`mediaplane analytics appid`: show (making it on first use) or replace an account's Agora-style App ID."""

from __future__ import annotations

import click


@click.group("analytics")
def analytics():
    """Call analytics: the App ID of the Agora-style /beta endpoints."""


@analytics.command("appid")
@click.option("--account", "account_name", required=True, help="Account name (mediaplane accounts list).")
@click.option("--new", "replace", is_flag=True, help="Replace the App ID: the old one stops working at once.")
def appid(account_name: str, replace: bool):
    """Print the account's App ID, the `appid` of its /beta/... requests (made on first use)."""
    from core.auth import AuthError, find_account
    from core.cli import app_context
    from plugins.analytics import agora_projects

    with app_context():
        try:
            account = find_account(account_name)
        except AuthError as err:
            raise click.ClickException(str(err)) from None
        if replace:
            click.echo(agora_projects.replace_appid(account.id))
        else:
            click.echo(agora_projects.appid_of(account.id))
