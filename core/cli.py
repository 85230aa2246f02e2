"""The `mediaplane` command: serve, worker, migrate, plugins, accounts, keys, and plugin commands."""

from __future__ import annotations

import contextlib
import os
import sys

import click

# Keep this module's imports light: every command line pays for them before it does anything
# (flask, redis, numpy stay inside the commands that use them), and `serve` must patch ssl
# before redis-py imports it (see main()).


def configuration_error(err: Exception) -> click.ClickException:
    """The one way every command refuses a bad setting: `Error: configuration: <dotted.key>: ...`, exit 1."""
    return click.ClickException(f"configuration: {err}")


def checked_plugins(ctx: click.Context | None = None):
    """Validate every setting (core and plugins), once per command line, and return the plugins;
    a bad setting ends the command."""
    from core.config import ConfigError, load_core, read_raw
    from core.plugins import Plugins

    meta = (ctx or click.get_current_context()).find_root().meta
    if "mediaplane.plugins" not in meta:
        try:
            raw = read_raw()
            load_core(raw)
            meta["mediaplane.plugins"] = Plugins(raw.get("plugins"))
        except ConfigError as err:
            raise configuration_error(err) from None
    return meta["mediaplane.plugins"]


class MediaplaneGroup(click.Group):
    """The core commands plus those of the enabled plugins.

    Looking up any command first validates the whole configuration, so every command refuses a bad
    setting alike; plugin commands are collected then, once per command line, and only from enabled
    plugins (a disabled plugin has no commands). `--version` needs no configuration.
    """

    def plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        meta = ctx.find_root().meta
        if "mediaplane.plugin_commands" not in meta:
            meta["mediaplane.plugin_commands"] = {
                command.name: command
                for _name, commands in checked_plugins(ctx).call_each("register_cli_commands")
                for command in commands
            }
        return meta["mediaplane.plugin_commands"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.plugin_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        plugin_commands = self.plugin_commands(ctx)
        return super().get_command(ctx, cmd_name) or plugin_commands.get(cmd_name)


@contextlib.contextmanager
def app_context():
    """A built app with an open database connection; config errors end the command cleanly."""
    from core.app import create_app
    from core.config import ConfigError
    from core.db import db

    try:
        app = create_app()
    except ConfigError as err:
        raise configuration_error(err) from None
    with app.app_context(), db.connection_context():
        yield app


@click.group(cls=MediaplaneGroup)
@click.version_option(package_name="mediaplane", prog_name="mediaplane")
def cli():
    """mediaplane: self-hosted media control server."""


@cli.command()
@click.option("--host", help="Bind address (default: core.server.host).")
@click.option("--port", type=int, help="Port (default: core.server.port).")
@click.option("--workers", type=int, help="gunicorn processes (default: core.server.workers).")
@click.option("--with-worker", is_flag=True, help="Also run one job worker beside the web tier.")
def serve(host, port, workers, with_worker):
    """Run the web tier (gunicorn, gevent workers)."""
    from core.app import server_key
    from core.config import ConfigError, load_core, read_raw
    from core.server import serve as run

    # The group checked every setting already; the key file is checked here, once, rather than
    # in every worker.
    try:
        core_settings = load_core(read_raw())
        server_key(core_settings)
    except ConfigError as err:
        raise configuration_error(err) from None
    srv = core_settings["server"]
    run(core_settings, host or srv["host"], port or srv["port"], workers or srv["workers"], with_worker)


def rq_log_level(log_level: str) -> str:
    """RQ logs every job start and end at INFO: only worth seeing when DEBUG was asked for."""
    return "DEBUG" if log_level == "DEBUG" else "WARNING"


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
        core_settings = state.config["core"]
        os.nice(core_settings["job_worker_nice"])  # requests first on shared cores
        MediaplaneWorker(
            names, connection=state.redis, heartbeat_seconds=core_settings["job_heartbeat_seconds"]
        ).work(burst=burst, with_scheduler=True, logging_level=rq_log_level(core_settings["log_level"]))
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
    for info in checked_plugins().known.values():
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
            from core.command_name import mediaplane_command

            click.echo(
                f"accounts exist already; create keys with: {mediaplane_command()} keys create "
                "--account NAME --scopes ..."
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


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        # gevent workers patch after the fork; ssl (imported by redis-py) must be patched before
        # its first import or workers warn and may misbehave. Only ssl: a fully patched master
        # loses gunicorn's SIGCHLD handling.
        from gevent import monkey

        monkey.patch_ssl()
    cli()


if __name__ == "__main__":
    main()
