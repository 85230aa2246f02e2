"""The console's own pages (overview, sign in, sign out, assets) and the mounting of every plugin's
pages (hook register_console_pages)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from flask import Response, current_app, g, redirect, render_template, request, send_from_directory
from flask.views import MethodView
from flask_smorest import Blueprint
from markupsafe import Markup

from core.auth import current_actor
from core.errors import Dialect, Problem, problem_from_dependency
from core.openapi import errors
from plugins.console import signin

log = logging.getLogger("console")

PREFIX = "/console"
HOME = PREFIX + "/"
STATIC_DIR = Path(__file__).parent / "static"
# Pages and assets come from this server only; uPlot draws on canvas (no inline styles needed).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
# The session cookie works like the key it was made from; the API key styles work on pages too.
SESSION_SECURITY = [{"ApiKey": []}, {"Bearer": []}, {"Basic": []}]


def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def page(template: str, status: int = 200, **context) -> Response:
    """A console page: the template (which extends console/base.html) with the security headers."""
    html = render_template(template, **context)
    return security_headers(Response(html, status=status, content_type="text/html; charset=utf-8"))


class ConsoleDialect(Dialect):
    """Errors of console pages as HTML pages; a 401 is the sign-in form, returning to the page."""

    content_type = "text/html; charset=utf-8"
    validation_status = 400
    schema_name = "HtmlErrorPage"
    schema = {"type": "string", "description": "A small HTML page naming the problem."}

    def render(self, problem: Problem) -> Response:
        if problem.status == 401:
            response = page("console/sign_in.html", status=401, next=safe_next(request.full_path), error=None)
        else:
            response = page(
                "console/error.html",
                status=problem.status,
                code=problem.status,
                title=problem.title,
                detail=problem.detail,
            )
        for name, value in problem.extra_headers.items():
            response.headers[name] = value
        return response


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else (another host, //evil) is the home."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return HOME
    if "\\" in target or parts.path.startswith(PREFIX + "/sign-"):
        return HOME
    return target.rstrip("?")


# -- navigation and overview cards -------------------------------------------------------------------


def _registry() -> dict:
    return current_app.extensions["mediaplane_console"]


def quiet_actor():
    """The signed-in caller for page chrome (navigation), or None; never raises: an error page is drawn
    with it, also when the database that resolves the cookie is what failed."""
    try:
        return current_actor()
    except Exception:  # noqa: BLE001 - no navigation is better than an error inside the error page
        return None


def nav_entries() -> list[dict]:
    actor = g.get("console_actor") or quiet_actor()
    if actor is None:
        return []
    return [e for e in _registry()["nav"] if not e["scope"] or actor.has_scope(e["scope"])]


def overview_cards(actor) -> list[Markup]:
    cards = []
    for plugin, scope, panel in _registry()["panels"]:
        if not actor.has_scope(scope):
            continue
        try:
            html = panel(actor)
        except Problem:
            raise
        except Exception as err:  # noqa: BLE001 - one broken card must not take the overview down
            if problem_from_dependency(err) is not None:
                raise  # the database or Redis is down: the whole page is a 503, as the API would answer
            log.exception("console: overview card of %s failed", plugin)
            html = render_template("console/card_failed.html", plugin=plugin)
        if html:
            cards.append(Markup(html))
    return cards


# -- blueprints -----------------------------------------------------------------------------------


def _check_csrf_of_forms():
    if request.method not in signin.SAFE_METHODS:
        signin.check_csrf()


def make_console_blueprint() -> Blueprint:
    blp = Blueprint(
        "console",
        __name__,
        url_prefix=PREFIX,
        template_folder="templates",
        description="Operator console (HTML pages for browsers): sign in with an API key, then the pages "
        "each enabled plugin contributes. A page needs the scope of the API it mirrors; the session "
        "cookie works like the key it was made from.",
    )
    blp.error_dialect = ConsoleDialect()
    blp.before_request(_check_csrf_of_forms)

    @blp.route("/")
    class OverviewViews(MethodView):
        @blp.doc(security=SESSION_SECURITY, responses={"200": {"description": "Overview page", **HTML}})
        @errors(401, 503)
        def get(self):
            """Overview: the cards of the enabled plugins the key may read."""
            actor = current_actor()
            g.console_actor = actor
            return page("console/overview.html", cards=overview_cards(actor), actor=actor)

    @blp.route("/sign-in")
    class SignInViews(MethodView):
        @blp.doc(security=[], responses={"200": {"description": "Sign-in form", **HTML}})
        def get(self):
            """The sign-in form."""
            return page("console/sign_in.html", next=safe_next(request.args.get("next")), error=None)

        @blp.doc(
            security=[],
            requestBody={
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["api_key", "csrf_token"],
                            "properties": {
                                "api_key": {"type": "string", "description": "An API key (mpk_...)."},
                                "csrf_token": {"type": "string", "description": "From the form."},
                                "next": {"type": "string", "description": "Local path to return to."},
                            },
                        }
                    }
                },
            },
            responses={"303": {"description": "Signed in: on to `next` (a session cookie is set)"}},
        )
        @errors(
            _401="The key is malformed, unknown or revoked: the form again (HTML)",
            _403="The form's CSRF token is missing or stale (HTML)",
            _503="The database is unavailable (HTML)",
        )
        def post(self):
            """Sign in with an API key: a signed, HttpOnly session cookie names the key."""
            target = safe_next(request.form.get("next"))
            try:
                signin.sign_in(request.form.get("api_key", ""))
            except Problem as problem:
                if problem.status != 401:
                    raise
                return page("console/sign_in.html", status=401, next=target, error=problem.detail)
            return security_headers(redirect(target, code=303))

    @blp.route("/sign-out")
    class SignOutViews(MethodView):
        @blp.doc(
            security=[],
            requestBody={
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["csrf_token"],
                            "properties": {"csrf_token": {"type": "string"}},
                        }
                    }
                },
            },
            responses={"303": {"description": "Signed out: on to the sign-in form"}},
        )
        @errors(_403="The form's CSRF token is missing or stale (HTML)")
        def post(self):
            """Sign out: the session cookie is emptied."""
            signin.sign_out()
            return security_headers(redirect(PREFIX + "/sign-in", code=303))

    @blp.route("/assets/<path:filename>")
    class AssetViews(MethodView):
        @blp.doc(security=[], responses={"200": {"description": "A script, style sheet or license file"}})
        @errors(_404="No such asset (HTML)")
        def get(self, filename):
            """The console's script and style, and the vendored uPlot chart library (no CDN)."""
            response = send_from_directory(STATIC_DIR, filename, max_age=86400)
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

    return blp


def collect_blueprints() -> list:
    """The console's blueprint and every enabled plugin's pages (hook register_console_pages); the
    navigation and overview cards are kept in app.extensions["mediaplane_console"]."""
    from core.plugins import current_plugins

    blueprints = [make_console_blueprint()]
    nav = [{"title": "Overview", "endpoint": "console.OverviewViews", "scope": "", "order": 0}]
    panels = []
    for plugin, contribution in current_plugins().call_each("register_console_pages"):
        blp = contribution["blueprint"]
        if getattr(blp, "error_dialect", None) is None:
            blp.error_dialect = ConsoleDialect()
        blp.before_request(_check_csrf_of_forms)
        blueprints.append(blp)
        nav += [{"plugin": plugin, **entry} for entry in contribution.get("nav", [])]
        panels += [(plugin, scope, panel) for scope, panel in contribution.get("panels", [])]
    nav.sort(key=lambda entry: (entry.get("order", 100), entry["title"]))
    current_app.extensions["mediaplane_console"] = {"nav": nav, "panels": panels}
    current_app.context_processor(lambda: {"console_nav": nav_entries})
    return blueprints
