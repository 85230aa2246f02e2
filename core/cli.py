"""The `mediaplane` command: serve, worker, migrate, plugins, accounts, keys, and plugin commands."""

from __future__ import annotations

import contextlib
import sys

import click

from core.config import ConfigError

# Keep this module's imports light: `serve` must patch ssl before redis-py imports it (see main()).


@contextlib.contextmanager
def app_context():
    """A built app with an open database connection; config errors end the command cleanly."""
    from core.app import create_app
    from core.db import db

    try:
        app = create_app()
    except ConfigError as err:
        raise click.ClickException(f"configuration: {err}") from None
    with app.app_context(), db.connection_context():
        yield app


@click.group()
@click.version_option(package_name="mediaplane")
def cli():
    """mediaplane: self-hosted media control server."""


@cli.command()
@click.option("--host", help="Bind address (default: core.server.host).")
@click.option("--port", type=int, help="Port (default: core.server.port).")
@click.option("--workers", type=int, help="gunicorn processes (default: core.server.workers).")
@click.option("--with-worker", is_flag=True, help="Also run one job worker beside the web tier.")
def serve(host, port, workers, with_worker):
    """Run the web tier (gunicorn, gevent workers)."""
    from core.config import load_core, read_raw
    from core.plugins import Plugins
    from core.server import serve as run

    try:
        raw = read_raw()
        core_settings = load_core(raw)
        Plugins(raw.get("plugins"))  # fail here, once, rather than in every worker
        from core.app import server_key

        server_key(core_settings)
    except ConfigError as err:
        raise click.ClickException(f"configuration: {err}") from None
    srv = core_settings["server"]
    run(core_settings, host or srv["host"], port or srv["port"], workers or srv["workers"], with_worker)


@cli.command()
@click.option("--queue", "queues", multiple=True, help="Queue to serve (repeatable; default: all).")
@click.option("--burst", is_flag=True, help="Run what is queued, then exit.")
def worker(queues, burst):
    """Run an RQ job worker (also enqueues scheduled jobs)."""
    from core.db import db
    from core.queue import (
        MediaplaneWorker,
        ScheduleThread,
        children_die_with_parent,
        queue_names,
        set_worker_app,
    )

    with app_context() as app:
        state = app.extensions["mediaplane"]
        names = list(queues) or queue_names(app)
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()  # job processes are forked: they must not inherit pooled sockets
    set_worker_app(app)
    schedules = ScheduleThread(app)
    schedules.start()
    click.echo(f"worker serving queues {', '.join(names)}; {len(state.schedules)} schedules")
    try:
        children_die_with_parent()  # no orphaned work horse or scheduler if this process is killed
        MediaplaneWorker(
            names, connection=state.redis, heartbeat_seconds=state.config["core"]["job_heartbeat_seconds"]
        ).work(burst=burst, with_scheduler=True)
    finally:
        schedules.stopped.set()


@cli.command()
def migrate():
    """Apply pending migrations of the core and every enabled plugin."""
    from core.app import migration_packages
    from core.db import migrate as run

    with app_context() as app:
        applied = run(migration_packages(app))
    click.echo("\n".join(f"applied {name}" for name in applied) or "nothing to migrate")


@cli.command("plugins")
def list_plugins():
    """List installed plugins, their versions and whether they are enabled."""
    from core.config import read_raw
    from core.plugins import Plugins

    try:
        plugins = Plugins(read_raw().get("plugins"))
    except ConfigError as err:
        raise click.ClickException(f"configuration: {err}") from None
    for info in plugins.known.values():
        state = "enabled" if info.enabled else "disabled"
        requires = f" (requires {', '.join(info.requires)})" if info.requires else ""
        click.echo(f"{info.name:16} {info.version:10} {state:9} {info.source}{requires}")


@cli.group()
def accounts():
    """Manage accounts."""


@accounts.command("create")
@click.argument("name")
def accounts_create(name):
    """Create account NAME."""
    from core.auth import AuthError, create_account

    with app_context():
        try:
            account = create_account(name)
        except AuthError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"created account {account.name} (id {account.id})")


@accounts.command("list")
def accounts_list():
    """List accounts."""
    from core.models import Account

    with app_context():
        for account in Account.select().order_by(Account.id):
            click.echo(f"{account.id}\t{account.name}\t{account.created_at:%Y-%m-%d %H:%M}")


@cli.group()
def keys():
    """Manage API keys."""


@keys.command("create")
@click.option("--account", required=True, help="Account name.")
@click.option("--scopes", required=True, help="Comma-separated, e.g. report:ingest,report:read (* for all).")
@click.option("--name", default="", help="A label for the key.")
def keys_create(account, scopes, name):
    """Create a key; the key is printed once, alone on the last line."""
    from core.auth import AuthError, create_key

    with app_context():
        try:
            row, token = create_key(account, scopes.split(","), name)
        except AuthError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"key {row.key_id} ({account}, scopes {row.scopes}); store it now, it is not shown again:")
    click.echo(token)


@keys.command("list")
@click.option("--account", help="Only this account.")
def keys_list(account):
    """List keys (never their secrets)."""
    from core.models import Account, ApiKey

    with app_context():
        query = ApiKey.select(ApiKey, Account).join(Account).order_by(ApiKey.id)
        if account:
            query = query.where(Account.name == account)
        for key in query:
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            click.echo(f"{key.key_id}\t{key.account.name}\t{key.scopes}\t{state}\t{key.name}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id):
    """Revoke key KEY_ID at once."""
    from core.auth import AuthError, revoke_key

    with app_context():
        try:
            revoke_key(key_id)
        except AuthError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"revoked {key_id}")


@cli.command()
@click.option("--account", default="default", show_default=True)
def bootstrap(account):
    """First start: migrate, then create a first account and print its admin key (once)."""
    from core.app import migration_packages
    from core.auth import create_account, create_key
    from core.db import migrate as run
    from core.models import Account

    with app_context() as app:
        run(migration_packages(app))
        if Account.select().exists():
            click.echo(
                "accounts exist already; create keys with: mediaplane keys create --account NAME --scopes ..."
            )
            return
        create_account(account)
        row, token = create_key(account, ["*"], "admin (bootstrap)")
    click.echo(
        f"created account '{account}' and admin key {row.key_id}; store it now, it is not shown again:"
    )
    click.echo(token)


@cli.command("config-reference")
def config_reference():
    """Print the configuration reference (Markdown) generated from the config schemas."""
    from core.config_reference import render

    click.echo(render(), nl=False)


def _add_plugin_commands() -> None:
    from core.config import read_raw
    from core.plugins import Plugins

    try:
        plugins = Plugins(read_raw().get("plugins"))
    except ConfigError as err:
        click.echo(f"Error: configuration: {err}", err=True)
        sys.exit(1)
    for _name, commands in plugins.call_each("register_cli_commands"):
        for command in commands:
            cli.add_command(command)


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        # gevent workers patch after the fork; ssl (imported by redis-py) must be patched before
        # its first import or workers warn and may misbehave. Only ssl: a fully patched master
        # loses gunicorn's SIGCHLD handling.
        from gevent import monkey

        monkey.patch_ssl()
    _add_plugin_commands()
    cli()


if __name__ == "__main__":
    main()
