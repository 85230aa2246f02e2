"""GET /v2/analytics/peer-stats: 100ms-style peer quality time series, errors as {code, message}."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require, token_claims
from core.errors import Dialect, Problem
from core.openapi import errors
from plugins.analytics import metrics, schemas, service


class HmsDialect(Dialect):
    """100ms errors: a JSON body with `code` (the HTTP status) and `message`; its server SDK shows
    `message` to the developer."""

    content_type = "application/json"
    validation_status = 400
    schema_name = "HmsError"
    schema = {
        "type": "object",
        "description": "The 100ms error body.",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "integer", "description": "The HTTP status."},
            "message": {"type": "string", "description": "What went wrong, for people."},
        },
    }

    def body(self, problem: Problem) -> dict:
        return {"code": problem.status, "message": problem.detail or problem.title}


MANAGEMENT = "management"


def check_token_type() -> None:
    """100ms's REST API takes management tokens only: a JWT of another `type` (an app/auth token meant
    for a client SDK to join a room) is refused like a token that does not verify, 401, and its server
    SDK mints a new management token on a 401. Plain API keys (our addition) carry no type.

    :raises Problem: 401 when the request's JWT is not a management token.
    """
    claims = token_claims()
    if claims is not None and claims.get("type") != MANAGEMENT:
        metrics.peer_stats_answered("token_refused")
        raise Problem(
            401,
            "Unauthorized",
            f"JWT type must be '{MANAGEMENT}' (got {claims.get('type')!r}): this API takes management "
            "tokens, not the app tokens clients join rooms with",
        )


def make_blueprint(settings: dict) -> Blueprint:
    blp = Blueprint(
        "analytics",
        __name__,
        url_prefix="/v2/analytics",
        description="100ms-style Peer Quality Stats: per-minute time series of a peer's published and "
        "subscribed tracks (timestamps Unix ms, bitrate bps, loss percent, rtt/jitter ms). Bearer: a "
        "management token (HS256 JWT with access_key = API key id, signed with its secret) or an API key.",
    )
    blp.error_dialect = HmsDialect()

    @blp.route("/peer-stats")
    class PeerStatsViews(MethodView):
        @require("analytics:read")
        @blp.arguments(schemas.PeerStatsQueryArgsSchema, location="query")
        @blp.response(200, schemas.PeerStatsSchema)
        @errors(
            400,
            _404="No such session or peer in this account, or the session is still running and live is "
            "not true",
        )
        def get(self, args):
            """Quality time series of one peer of an ended session (live=true: also a running one)."""
            check_token_type()
            try:
                body = service.peer_stats(
                    current_actor().account_id, args["session_id"], args["peer_id"], args["live"]
                )
            except service.AnalyticsError:
                metrics.peer_stats_answered("not_found")
                raise
            metrics.peer_stats_answered("ok")
            # Built to the documented schema already: dumping thousands of numbers through marshmallow
            # again would cost more than the query (flask-smorest passes a Response through).
            return jsonify(body)

    return blp
