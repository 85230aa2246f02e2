"""Hook markers and the core hookspecs every plugin may implement (docstrings are the contract)."""

from __future__ import annotations

import pluggy

PROJECT = "mediaplane"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_config_schema():
    """Provide the marshmallow schema class of this plugin's config section.

    Called once at startup for every known plugin, enabled or not, before anything else,
    so that the section ``[plugins.<name>]`` can be validated (including ``enabled``).

    :returns: a subclass of ``core.config.PluginConfigSchema``.
    """


@hookspec
def check_environment(settings):
    """Report problems that make this plugin unable to start.

    Called at startup after config validation, for enabled plugins only.

    :param settings: this plugin's validated settings (dict).
    :returns: a list of human-readable problems; any problem stops startup.
    """


@hookspec
def register_models():
    """Provide the peewee models this plugin owns.

    Used by tests and tooling (table listing, tenancy checks); tables are created by migrations.

    :returns: a list of ``core.db.BaseModel`` subclasses.
    """


@hookspec
def register_migrations():
    """Provide this plugin's migrations package.

    Called by ``mediaplane migrate``. Each module in the package, sorted by name, has
    ``up(migrator, database)``; applied names are kept per plugin in ``core_migration``.

    :returns: an imported package (module object).
    """


@hookspec
def register_blueprints():
    """Provide the flask-smorest blueprints this plugin mounts.

    Called once by ``create_app``. Each blueprint carries its ``url_prefix`` and may set an
    ``error_dialect`` attribute (a ``core.errors.Dialect``); the core mounts them.

    :returns: a list of ``flask_smorest.Blueprint``.
    """


@hookspec
def register_jobs():
    """Provide this plugin's RQ jobs.

    Called by ``create_app``. Names are prefixed by the plugin name, so ``{"purge": f}`` of
    plugin ``report`` is enqueued as ``enqueue("report.purge")``. Only registered jobs run.

    :returns: a dict ``{short_name: callable}``; callables take JSON values only.
    """


@hookspec
def register_schedules(settings):
    """Provide this plugin's periodic jobs.

    Called by ``create_app``; workers enqueue each at most once per interval across all workers.

    :param settings: this plugin's validated settings (dict).
    :returns: a list of ``core.queue.Schedule`` naming jobs of this plugin.
    """


@hookspec
def register_cli_commands():
    """Provide click commands added under ``mediaplane``.

    Called when the CLI starts, for enabled plugins only.

    :returns: a list of ``click.Command`` (usually one group named after the plugin).
    """


@hookspec
def register_mcp_tools():
    """Provide tools for an MCP endpoint.

    :returns: a list of dicts ``{name, description, inputSchema, outputSchema, handler}``.
    """


@hookspec
def register_console_pages():
    """Provide this plugin's pages of the operator console (the ``console`` plugin serves it at ``/``).

    Called once by the console plugin while it mounts its blueprints, for enabled plugins only; when
    the console is disabled nobody calls it. Pages are ordinary views: they call
    ``core.auth.current_actor`` and check scopes like the API views do, because the console turns its
    session cookie into the same ``Actor`` (``actor_from_request``). So scopes and tenancy apply to
    every page exactly as on the API, and another account's object is a 404.

    Templates extend ``console/base.html`` (navigation, sign out, the CSRF token as
    ``csrf_token()``); scripts and styles come from the plugin's own static files, with no build step;
    shared libraries (uPlot) from the core's ``/vendor/`` (``url_for('core.vendor_assets', ...)``).

    :returns: a dict with
        ``blueprint`` (a ``flask_smorest.Blueprint`` of the pages, url_prefix ``/console/<plugin>``;
        the console mounts it and gives it its HTML error dialect unless it has one),
        ``nav`` (a list of ``{"title", "endpoint", "scope", "order"}``: links of the navigation, shown
        only to a caller holding ``scope``; lower ``order`` first),
        ``panels`` (optional: a list of ``(scope, callable(actor) -> str)``: cards of the overview
        page, rendered HTML, shown only to a caller holding ``scope``).
    """


@hookspec(firstresult=True)
def actor_from_request(request):
    """Authenticate a request in a way the core does not know.

    Called before the core's own API-key authenticators; the first non-None answer wins.

    :param request: the Flask request.
    :returns: a ``core.auth.Actor`` or None.
    """


@hookspec(firstresult=True)
def problem_from_exception(exception):
    """Turn a domain exception into a ``core.errors.Problem``.

    Called for exceptions that are neither a Problem nor an HTTP error, before they become a 500.

    :param exception: the exception raised by a view.
    :returns: a ``Problem`` or None.
    """


@hookspec
def startup(app):
    """Called once at the end of ``create_app`` with the ready Flask app. Returns nothing."""


@hookspec
def shutdown(app):
    """Called when the process stops (atexit) with the Flask app. Returns nothing."""
