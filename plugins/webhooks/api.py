"""HTTP routes of the webhooks plugin under /v1/webhooks (rooms-API contract, RFC 9457 errors)."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_actor, require
from core.errors import RTCSTACK_PROBLEM
from core.openapi import errors
from core.plugins import plugin_settings
from core.ratelimit import enforce
from plugins.webhooks import schemas, service

SCOPE = "webhooks:admin"
WEBHOOK_ID = {
    "in": "path",
    "name": "webhookId",
    "required": True,
    "description": "Webhook id, as returned on creation.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\x00/]+$"},
}


def make_blueprint(settings: dict) -> Blueprint:
    blp = Blueprint(
        "webhooks",
        __name__,
        url_prefix="/v1/webhooks",
        description="Webhooks: signed HTTP POSTs to your URL when rooms, participants, tracks, recordings, "
        "ingresses and transcriptions change, retried with exponential backoff, with a delivery log. "
        "Each request carries X-Mediaplane-Signature: v1=<hex HMAC-SHA256(secret, timestamp + '.' + body)> "
        "and X-Mediaplane-Timestamp; see docs/webhooks.md. Errors are RFC 9457 problems.",
    )
    blp.error_dialect = RTCSTACK_PROBLEM

    @blp.route("")
    class WebhookViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.WebhookListSchema)
        def get(self):
            """Every webhook of the account; secrets masked as ***."""
            return {"webhooks": service.list_webhooks(current_actor().account_id)}

        @require(SCOPE)
        @blp.arguments(schemas.WebhookCreateSchema, location="json")
        @blp.response(201, schemas.WebhookSchema)
        @errors(
            _400="Invalid body; or the URL is refused (scheme, form, or a non-public address)",
            _409="The account has max_webhooks_per_account webhooks",
        )
        def post(self, body):
            """Register a webhook. The answer holds the signing secret in plaintext, shown only this once."""
            return service.create(current_actor().account_id, body, plugin_settings("webhooks"))

    @blp.route("/<string:webhookId>", parameters=[WEBHOOK_ID])
    class WebhookByIdViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.WebhookSchema)
        @errors(_404="No such webhook in this account")
        def get(self, webhookId):
            """One webhook; secret masked."""
            return service.get(current_actor().account_id, webhookId)

        @require(SCOPE)
        @blp.arguments(schemas.WebhookUpdateSchema, location="json")
        @blp.response(200, schemas.WebhookSchema)
        @errors(_404="No such webhook in this account")
        def patch(self, body, webhookId):
            """Change url and/or events; `secret` sets a new secret, `rotateSecret: true` generates one
            (shown in this answer only). Deliveries not yet sent are signed with the new secret."""
            return service.update(current_actor().account_id, webhookId, body, plugin_settings("webhooks"))

        @require(SCOPE)
        @blp.response(204)
        @errors(_404="No such webhook in this account")
        def delete(self, webhookId):
            """Delete a webhook, its pending deliveries and its log."""
            service.delete(current_actor().account_id, webhookId)
            return Response(status=204)

    @blp.route("/<string:webhookId>/test", parameters=[WEBHOOK_ID])
    class WebhookTestViews(MethodView):
        @require(SCOPE)
        @blp.response(200, schemas.TestResultSchema)
        @errors(
            _404="No such webhook in this account",
            _429="test_rate_limit of this key exceeded; retry after Retry-After",
        )
        def post(self, webhookId):
            """Send a signed `test` event now and answer whether the receiver took it (2xx).

            Waits for the receiver at most timeout_seconds; not retried; logged in the deliveries."""
            actor = current_actor()
            settings = plugin_settings("webhooks")
            enforce(settings["test_rate_limit"], "webhooks-test", actor.key_id)
            return service.send_test(actor.account_id, webhookId, settings)

    @blp.route("/<string:webhookId>/deliveries", parameters=[WEBHOOK_ID])
    class DeliveryViews(MethodView):
        @require(SCOPE)
        @blp.arguments(schemas.deliveries_query_args(settings["deliveries_max_limit"]), location="query")
        @blp.response(200, schemas.DeliveryListSchema)
        @errors(_404="No such webhook in this account")
        def get(self, args, webhookId):
            """The webhook's deliveries, newest first: status, attempts, last answer, error, times.

            Pass nextCursor as `cursor` for the next (older) page; null on the last page."""
            cfg = plugin_settings("webhooks")
            items, next_cursor = service.deliveries(
                current_actor().account_id,
                webhookId,
                args.get("limit", cfg["deliveries_default_limit"]),
                args.get("cursor"),
                args.get("status"),
            )
            return {"deliveries": items, "nextCursor": next_cursor}

    return blp
