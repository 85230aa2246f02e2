"""The core's own routes: the home redirect, health, readiness, metrics, the API docs assets and the
vendored front-end libraries that several plugins' pages share."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint as FlaskBlueprint
from flask import current_app, jsonify, redirect, send_from_directory
from flask_smorest import Blueprint

from core import metrics
from core.db import db, pending
from core.openapi import errors
from core.queue import queue_names

blueprint = Blueprint(
    "core",
    __name__,
    description="Health, readiness and metrics of this process (no credentials: keep them off the "
    "public network if they should not be seen). Errors are RFC 9457 application/problem+json.",
)
docs_blueprint = FlaskBlueprint("core_docs", __name__)

HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}},
}
READINESS_SCHEMA = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "checks": {
            "type": "object",
            "description": "database, redis and (when the database answers) migrations: "
            '"ok", or what failed ("error: <cause>", "pending: <plugins>").',
            "additionalProperties": {"type": "string"},
        },
    },
}

# Front-end libraries vendored once with their licenses (uPlot: MIT): the console and the rtcstats viewer
# both load them from here, so neither plugin has to be enabled for the other's pages to draw charts.
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"

# Where `GET /` sends a browser: the operator console when its plugin is enabled, else the API docs.
CONSOLE_HOME = "/console/"
HOME = "/docs"


@docs_blueprint.get("/")
def home():
    """Something useful at the bare address: the page a new user wants first (302, not cached)."""
    from core.plugins import current_plugins

    return redirect(CONSOLE_HOME if current_plugins().is_enabled("console") else HOME, code=302)


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@blueprint.route("/healthz", methods=["GET"])
@blueprint.doc(responses={"200": _json(HEALTH_SCHEMA, "The process is up")})
def healthz():
    """The process is up (no dependency checked)."""
    return jsonify(status="ok")


@blueprint.route("/readyz", methods=["GET"])
@blueprint.doc(
    responses={
        "200": _json(READINESS_SCHEMA, "Ready: every check is ok"),
        "503": _json(READINESS_SCHEMA, "Not ready: `checks` names what failed"),
    }
)
def readyz():
    """The process can serve: the database answers and Redis answers."""
    checks = {}
    try:
        db.execute_sql("SELECT 1").fetchone()
        checks["database"] = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(err).__name__}"
    try:
        current_app.extensions["mediaplane"].redis.ping()
        checks["redis"] = "ok"
    except Exception as err:  # noqa: BLE001
        checks["redis"] = f"error: {type(err).__name__}"
    if checks["database"] == "ok":
        from core.app import migration_packages  # core.app imports this module

        # A new version started before `mediaplane migrate` must not take traffic.
        try:
            waiting = pending(migration_packages(current_app))
            checks["migrations"] = "ok" if not waiting else f"pending: {', '.join(waiting)}"
        except Exception as err:  # noqa: BLE001 - the database went away after its check
            checks["migrations"] = f"error: {type(err).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


@blueprint.route("/metrics", methods=["GET"])
@blueprint.doc(
    responses={
        "200": {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
)
def prometheus_metrics():
    """Prometheus text format."""
    return metrics.render(current_app.extensions["mediaplane"].redis, queue_names(current_app))


@blueprint.route("/vendor/<path:filename>", methods=["GET"])
@blueprint.doc(
    security=[],
    responses={
        "200": {
            "description": "A vendored script, style sheet or license file (uPlot.iife.min.js, "
            "uPlot.min.css, uPlot.LICENSE)"
        }
    },
)
@errors(_404="No such file")
def vendor_assets(filename):
    """Vendored front-end libraries (no CDN), shared by every plugin's pages."""
    response = send_from_directory(VENDOR_DIR, filename, max_age=86400)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@docs_blueprint.get("/docs/assets/<path:filename>")
def docs_assets(filename):
    """Swagger UI files shipped in the swagger-ui-bundle package: no CDN needed."""
    import swagger_ui_bundle

    return send_from_directory(str(swagger_ui_bundle.swagger_ui_path), filename, max_age=86400)
