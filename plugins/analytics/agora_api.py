"""Agora-style call analytics under /beta: call search, data insight and realtime, in Agora's envelopes."""

from __future__ import annotations

import functools
import time

import msgspec
from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.errors import Dialect, Problem
from core.openapi import add_errors, errors
from core.plugins import plugin_settings
from core.ratelimit import enforce
from plugins.analytics import agora_metrics, agora_queries
from plugins.analytics import agora_schemas as schemas
from plugins.analytics.agora_projects import UnknownAppId, check_appid

SCOPE = "analytics:read"
DAY = 86400


class AgoraDialect(Dialect):
    """Errors as Agora's REST services send them: {code: <HTTP status>, message, data: null}."""

    content_type = "application/json"
    validation_status = 400  # the contract: "400 The input is in the wrong format"
    schema_name = "AgoraError"
    schema = {
        "type": "object",
        "description": "Agora's error envelope.",
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer", "description": "The HTTP status."},
            "message": {"type": "string", "description": "What went wrong; names the parameter."},
            "data": {"nullable": True, "enum": [None], "description": "Always null on errors."},
        },
    }
    descriptions = {
        400: "A parameter is missing, malformed or outside the contract's limits; the message names it",
        403: "The key lacks analytics:read, or appid is not this account's project",
        404: "No such API, or no such call in this account",
    }

    def body(self, problem: Problem) -> dict:
        return {"code": problem.status, "message": problem.detail or problem.title, "data": None}


_encode = msgspec.json.Encoder().encode


def answer(body: dict, points: int) -> Response:
    """A 200 JSON answer encoded by msgspec: call details carry tens of thousands of [ts, value] pairs,
    which a marshmallow dump would take most of the request's time to serialise (the schemas still
    document the shapes). `points`: data points in it, for the metrics."""
    agora_metrics.answered(g.agora_endpoint, "ok")
    agora_metrics.points(g.agora_endpoint, points)
    return Response(_encode(body), mimetype="application/json")


def rate_limited(setting: str, endpoint: str):
    """Count the call against `setting` (a limit per API key and endpoint, in Redis: all processes
    share it); `endpoint` also labels the domain metrics."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.agora_endpoint = endpoint
            try:
                enforce(
                    plugin_settings("analytics")[setting], f"analytics-{endpoint}", current_actor().key_id
                )
            except Problem as err:
                if err.status == 429:
                    agora_metrics.answered(endpoint, "rate_limited")
                raise
            return view(*args, **kwargs)

        add_errors(wrapper, {429: f"Rate limit of this key exceeded ({setting}); retry after Retry-After"})
        return wrapper

    return decorate


def _bad(name: str, text: str) -> Problem:
    return Problem(400, "Invalid request", f"{name}: {text}")


def check_window(args: dict, *, max_age: int, max_span: int | None = None, what: str) -> None:
    """:raises Problem: 400 when start_ts reaches further back than `max_age` seconds (with the
    configured clock leeway) or the window is longer than `max_span` seconds."""
    settings = plugin_settings("analytics")
    oldest = int(time.time()) - max_age - settings["agora_clock_leeway_seconds"]
    if args["start"] < oldest:
        raise _bad(args["start_name"], f"{what} cover the past {_duration(max_age)} only; send a later start")
    if max_span is not None and args["end"] - args["start"] > max_span:
        raise _bad(
            args["end_name"],
            f"{what} cover at most {_duration(max_span)} per request ({args['end_name']} - "
            f"{args['start_name']} <= {max_span}); split the window",
        )


def _duration(seconds: int) -> str:
    if seconds % DAY == 0:
        return f"{seconds // DAY} day{'s' if seconds != DAY else ''}"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    return f"{seconds} seconds"


def account_for(args: dict) -> int:
    """The caller's account, once `appid` is its project.

    :raises Problem: 403 when it is not (unknown, replaced or another account's: one answer for all).
    """
    account_id = current_actor().account_id
    try:
        check_appid(account_id, args["appid"])
    except UnknownAppId as err:
        agora_metrics.answered(g.agora_endpoint, "appid_refused")
        raise Problem(403, "Forbidden", f"appid: {err}") from None
    return account_id


def diagnosis(account_id: int, args: dict) -> list[dict]:
    """live/diagnosis with this server's thresholds (the same settings the rollups use)."""
    cfg = plugin_settings("analytics")
    return agora_queries.diagnosis(
        account_id,
        args["start"],
        args["end"],
        cfg["agora_max_diagnoses"],
        cfg["agora_server_user_prefixes"],
        join_window=cfg["join_success_window_seconds"],
        loss_threshold=cfg["excellent_loss_percent"],
    )


def make_blueprint(settings: dict) -> Blueprint:
    blp = Blueprint(
        "analytics_agora",
        __name__,
        url_prefix="/beta",
        description="Agora-style call analytics from our own data: call search (/beta/analytics/call), data "
        "insight (/beta/insight) and realtime (/beta/live). Authenticate with Basic key_id:secret (Agora's "
        "api_key:api_secret) or any other core style; `appid` is the account's App ID "
        "(`mediaplane analytics appid --account NAME`). Times are Unix seconds (UTC). Errors are "
        "{code, message, data: null} with the HTTP status as code.",
    )
    blp.error_dialect = AgoraDialect()

    @blp.route("/analytics/call/lists")
    class CallListsViews(MethodView):
        @require(SCOPE)
        @rate_limited("agora_call_lists_rate_limit", "call-lists")
        @blp.arguments(schemas.CallListsArgsSchema, location="query")
        @blp.response(200, schemas.CallListsResponseSchema)
        def get(self, args):
            """Calls active in the time frame, the most recent first (at most agora_max_calls)."""
            cfg = plugin_settings("analytics")
            check_window(args, max_age=cfg["agora_call_search_days"] * DAY, what="call lists")
            account_id = account_for(args)
            calls, has_more = agora_queries.call_list(
                account_id, args["start"], args["end"], args.get("cname"), cfg["agora_max_calls"]
            )
            return answer({"code": 200, "message": "", "has_more": has_more, "call_lists": calls}, len(calls))

    @blp.route("/analytics/call/details")
    class CallDetailsViews(MethodView):
        @require(SCOPE)
        @rate_limited("agora_call_details_rate_limit", "call-details")
        @blp.arguments(schemas.CallDetailsArgsSchema, location="query")
        @blp.response(200, schemas.CallDetailsResponseSchema)
        @errors(_404="No call with this call_id in this account")
        def get(self, args):
            """The users of one call and their metric series (mid 20001-20020) in the time frame."""
            cfg = plugin_settings("analytics")
            check_window(
                args,
                max_age=cfg["agora_call_search_days"] * DAY,
                max_span=cfg["agora_call_details_max_seconds"],
                what="call details",
            )
            account_id = account_for(args)
            try:
                details = agora_queries.call_details(
                    account_id,
                    args["call_id"],
                    args["start"],
                    args["end"],
                    exclude_server_users=args["exclude_server_user"],
                    with_metrics=not args["exclude_metrics_info"],
                    max_users=cfg["agora_max_users"],
                    server_user_prefixes=cfg["agora_server_user_prefixes"],
                )
            except agora_queries.CallNotFound as err:
                agora_metrics.answered(g.agora_endpoint, "call_not_found")
                raise Problem(404, "Not found", f"call_id: {err}") from None
            pairs = sum(len(series["kvs"]) for user in details.get("metrics", []) for series in user["data"])
            return answer({"code": 200, "message": "", "call_id": args["call_id"], **details}, pairs)

    @blp.route("/insight/usage/by_time")
    class UsageViews(MethodView):
        @require(SCOPE)
        @rate_limited("agora_insight_rate_limit", "insight-usage")
        @blp.arguments(schemas.UsageArgsSchema, location="query")
        @blp.response(200, schemas.UsageResponseSchema)
        def get(self, args):
            """Users, sessions and channels per complete UTC day inside the time frame."""
            cfg = plugin_settings("analytics")
            check_window(args, max_age=cfg["agora_insight_days"] * DAY, what="usage statistics")
            account_id = account_for(args)
            data = agora_queries.usage_by_day(
                account_id, args["start"], args["end"], schemas.metric_names(args["metric"])
            )
            return answer({"code": 200, "message": "success", "data": data}, len(data))

    def live_view(path: str, name: str, args_schema, response_schema, query, doc: str) -> None:
        @require(SCOPE)
        @rate_limited("agora_live_rate_limit", f"live-{name}")
        @blp.arguments(args_schema, location="query")
        @blp.response(200, response_schema)
        def get(self, args):
            cfg = plugin_settings("analytics")
            check_window(args, max_age=cfg["agora_live_window_seconds"], what="realtime statistics")
            data = query(account_for(args), args)
            return answer({"code": 200, "message": "success", "data": data}, len(data))

        get.__doc__ = doc  # flask-smorest reads the summary from the docstring when the route is added
        blp.route(f"/live/{path}")(type(f"Live{name.title()}Views", (MethodView,), {"get": get}))

    live_view(
        "scale/by_time",
        "scale",
        schemas.ScaleArgsSchema,
        schemas.ScaleResponseSchema,
        lambda account_id, args: agora_queries.scale_by_minute(
            account_id, args["start"], args["end"], schemas.metric_names(args["metric"])
        ),
        "Concurrent users (pcu) and channels (pcc) per minute.",
    )
    live_view(
        "experience/by_time",
        "experience",
        schemas.ExperienceArgsSchema,
        schemas.ExperienceResponseSchema,
        lambda account_id, args: agora_queries.experience_by_minute(
            account_id, args["start"], args["end"], schemas.metric_names(args["metric"])
        ),
        "Join success (in 5 s) and audio/video freeze rates per minute, in percent.",
    )
    live_view(
        "net/by_time",
        "net",
        schemas.NetArgsSchema,
        schemas.NetResponseSchema,
        lambda account_id, args: agora_queries.net_by_minute(
            account_id, args["start"], args["end"], schemas.metric_names(args["metric"])
        ),
        "Share of transmission with at most 5 % packet loss, upstream and end to end, per minute.",
    )
    live_view(
        "diagnosis",
        "diagnosis",
        schemas.DiagnosisArgsSchema,
        schemas.DiagnosisResponseSchema,
        lambda account_id, args: diagnosis(account_id, args),
        "Users with video freezes (exp_id 4), audio freezes (5) or slow joins (6), with their likely causes.",
    )

    return blp
