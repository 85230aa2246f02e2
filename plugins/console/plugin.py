"""console plugin hooks: config, the console's own pages plus every plugin's pages, cookie sign-in."""

from core.hookspecs import hookimpl

# Everything else is imported inside the hooks: every CLI command discovers the plugins, so
# importing this module must stay cheap (no flask or jinja).

INFO = {
    "name": "console",
    "version": "0.1.0",
    "description": "Operator web UI at /: sign in with an API key, then the pages of the enabled plugins "
    "(overview, rooms, sessions, upload), each limited by the key's scopes.",
    "requires": [],
    # No scope of its own: every page asks for the scope of the API it mirrors.
    "scopes": {},
}


@hookimpl
def register_config_schema():
    from plugins.console.schemas import ConsoleConfigSchema

    return ConsoleConfigSchema


@hookimpl
def register_blueprints():
    from plugins.console.pages import collect_blueprints

    return collect_blueprints()


@hookimpl
def actor_from_request(request):
    from plugins.console.signin import actor_from_cookie

    return actor_from_cookie(request)


@hookimpl
def startup(app):
    from plugins.console.signin import configure_sessions

    configure_sessions(app)
