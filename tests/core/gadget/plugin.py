"""Hooks of the gadget test plugin; every call is appended to CALLS."""

from __future__ import annotations

import click
import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import Actor, current_actor, require
from core.config import PluginConfigSchema
from core.errors import Problem
from core.hookspecs import hookimpl
from core.queue import Schedule

INFO = {
    "name": "gadget",
    "version": "9.9.9",
    "description": "test plugin",
    "requires": [],
    "scopes": {"gadget:read": "read gadgets"},
}
CALLS: list[tuple] = []


class GadgetError(Exception):
    """A domain error the plugin maps to 409."""


class GadgetConfigSchema(PluginConfigSchema):
    greeting = ma.fields.String(load_default="hello")
    fail_check = ma.fields.Boolean(load_default=False)


class PageQueryArgsSchema(ma.Schema):
    size = ma.fields.Integer(validate=ma.validate.Range(1, 10))


class ItemQueryArgsSchema(ma.Schema):
    size = ma.fields.Integer(required=True, validate=ma.validate.Range(1, 10))


@hookimpl
def register_config_schema():
    return GadgetConfigSchema


@hookimpl
def check_environment(settings):
    CALLS.append(("check_environment", settings["greeting"]))
    return ["the gadget driver is missing"] if settings["fail_check"] else []


@hookimpl
def register_models():
    from tests.core.gadget.models import Gadget

    return [Gadget]


@hookimpl
def register_migrations():
    from tests.core.gadget import migrations

    return migrations


@hookimpl
def register_blueprints():
    blp = Blueprint("gadget", __name__, url_prefix="/gadget", description="Gadgets")

    @blp.route("/items")
    class ItemViews(MethodView):
        @require("gadget:read")
        @blp.arguments(ItemQueryArgsSchema, location="query")
        def get(self, args):
            """List items."""
            if args["size"] == 9:
                raise GadgetError("size 9 conflicts")
            return {"size": args["size"], "account_id": current_actor().account_id}

    return [blp]


def make_gadget(name):
    CALLS.append(("make_gadget", name))
    return f"made {name}"


@hookimpl
def register_jobs():
    return {"make_gadget": make_gadget}


@hookimpl
def register_schedules(settings):
    return [Schedule("make_gadget", 3600)]


@click.command("gadget-hello")
def hello():
    """Say hello."""
    click.echo("hello from gadget")


@hookimpl
def register_cli_commands():
    return [hello]


@hookimpl
def register_mcp_tools():
    return [
        {
            "name": "count_gadgets",
            "description": "Count gadgets",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object"},
            "handler": lambda args: {"count": 0},
        }
    ]


@hookimpl
def register_console_pages():
    from flask import render_template

    from plugins.console.interface import page

    blp = Blueprint("gadget_console", __name__, url_prefix="/console/gadget", template_folder="templates")

    @blp.route("/gadgets")
    class GadgetPageViews(MethodView):
        @require("gadget:read")
        @blp.arguments(PageQueryArgsSchema, location="query")
        def get(self, args):
            """The gadgets page."""
            return page("gadget/console_gadgets.html", account_id=current_actor().account_id)

    def card(actor):
        return render_template("gadget/console_card.html", account_id=actor.account_id)

    nav = [
        {"title": "Gadgets", "endpoint": "gadget_console.GadgetPageViews", "scope": "gadget:read", "order": 5}
    ]
    return {"blueprint": blp, "nav": nav, "panels": [("gadget:read", card)]}


@hookimpl
def actor_from_request(request):
    value = request.headers.get("X-Gadget-Account")
    if value:
        return Actor(int(value), "gadget", "gadget-key", frozenset({"gadget:read"}))
    return None


@hookimpl
def problem_from_exception(exception):
    if isinstance(exception, GadgetError):
        return Problem(409, "Conflict", str(exception))
    return None


@hookimpl
def startup(app):
    CALLS.append(("startup", app.name))


@hookimpl
def shutdown(app):
    CALLS.append(("shutdown", app.name))


@hookimpl
def room_started(account_id, room_name, started_at):
    CALLS.append(("room_started", room_name))
