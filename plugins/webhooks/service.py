"""Domain logic of the webhooks plugin: subscriptions, events to deliveries, signed attempts, the log."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid

import peewee

import core
from core.auth import seal, unseal
from core.db import db, utcnow, write_atomic
from core.models import Account
from plugins.webhooks import delivery as http
from plugins.webhooks import metrics
from plugins.webhooks.models import Delivery, Webhook
from plugins.webhooks.schemas import ALL_EVENTS

log = logging.getLogger("webhooks")
MASK = "***"
SIGNATURE_HEADER = "X-Mediaplane-Signature"
TIMESTAMP_HEADER = "X-Mediaplane-Timestamp"
DELIVERY_HEADER = "X-Mediaplane-Delivery"
EVENT_HEADER = "X-Mediaplane-Event"
ATTEMPT_HEADER = "X-Mediaplane-Attempt"
TEST_EVENT = "test"
LEASE_MARGIN_SECONDS = 10  # an attempt owns its delivery for the timeout plus this (writing the result)
DELIVER_JOB = "webhooks.deliver"


class NotFound(LookupError):
    """No such webhook in the caller's account."""


class BadInput(ValueError):
    """A field's value cannot be used; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class InvalidUrl(BadInput):
    """The URL cannot be a webhook target (form, scheme, or a refused address)."""

    def __init__(self, message: str):
        super().__init__("url", message)


class TooMany(Exception):
    """The account has max_webhooks_per_account webhooks already."""


# -- time and ids ---------------------------------------------------------------------------------


def iso(value: dt.datetime | float | None) -> str | None:
    """ISO 8601 UTC with milliseconds and Z, as the contract writes times."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# -- subscriptions --------------------------------------------------------------------------------


def webhook_out(webhook: Webhook, secret: str | None = None) -> dict:
    """The contract's webhook object; `secret` only when it is to be shown (creation, rotation)."""
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": webhook.event_list,
        "secret": secret if secret is not None else MASK,
        "createdAt": iso(webhook.created_at),
        "updatedAt": iso(webhook.updated_at),
    }


def _check_url(url: str, settings: dict) -> None:
    try:
        http.check_url(url, http.parse_networks(settings["allow_private_cidrs"]))
    except http.UrlRefused as err:
        raise InvalidUrl(str(err)) from None


def create(account_id: int, body: dict, settings: dict) -> dict:
    """Subscribe; the answer carries the plaintext secret, which is never shown again.

    :raises InvalidUrl: the URL is refused. :raises TooMany: max_webhooks_per_account reached.
    """
    _check_url(body["url"], settings)
    secret = body.get("secret") or new_secret()
    now = utcnow()
    with write_atomic():
        if not isinstance(db.obj, peewee.SqliteDatabase):
            # Concurrent creations of one account queue on its row, so the count below stays true
            # (SQLite's write lock, taken at BEGIN by write_atomic, does the same there).
            Account.select(Account.id).where(Account.id == account_id).for_update().execute()
        count = Webhook.select().where(Webhook.account_id == account_id).count()
        if count >= settings["max_webhooks_per_account"]:
            raise TooMany(
                f"this account has {count} webhooks, the most allowed "
                "(plugins.webhooks.max_webhooks_per_account); delete one first"
            )
        webhook = Webhook.create(
            id="wh_" + secrets.token_hex(12),
            account_id=account_id,
            url=body["url"],
            events=" ".join(body["events"]),
            secret_encrypted=seal(secret),
            created_at=now,
            updated_at=now,
        )
    return webhook_out(webhook, secret)


def _get(account_id: int, webhook_id: str) -> Webhook:
    webhook = Webhook.get_or_none(Webhook.id == webhook_id, Webhook.account_id == account_id)
    if webhook is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return webhook


def get(account_id: int, webhook_id: str) -> dict:
    """:raises NotFound: unknown here (also another account's)."""
    return webhook_out(_get(account_id, webhook_id))


def list_webhooks(account_id: int) -> list[dict]:
    query = Webhook.select().where(Webhook.account_id == account_id).order_by(Webhook.created_at, Webhook.id)
    return [webhook_out(w) for w in query]


def update(account_id: int, webhook_id: str, body: dict, settings: dict) -> dict:
    """Change url, events and/or the secret; a new secret is shown in this answer only.

    :raises NotFound: unknown here. :raises BadInput: the new URL is refused, or both secret and
        rotateSecret were sent.
    """
    webhook = _get(account_id, webhook_id)
    if body.get("rotateSecret") and "secret" in body:
        raise BadInput("secret", "send either secret or rotateSecret, not both")
    if not (set(body) - {"rotateSecret"} or body.get("rotateSecret")):
        return webhook_out(webhook)  # nothing to change
    if "url" in body:
        _check_url(body["url"], settings)
        webhook.url = body["url"]
    if "events" in body:
        webhook.events = " ".join(body["events"])
    shown = None
    if body.get("rotateSecret"):
        shown = new_secret()
    elif "secret" in body:
        shown = body["secret"]
    if shown is not None:
        webhook.secret_encrypted = seal(shown)
    webhook.updated_at = utcnow()
    webhook.save()
    return webhook_out(webhook, shown)


def delete(account_id: int, webhook_id: str) -> None:
    """Unsubscribe; its pending deliveries and log go with it. :raises NotFound: unknown here."""
    webhook = _get(account_id, webhook_id)
    with db.atomic():
        Delivery.delete().where(Delivery.webhook == webhook.id).execute()
        webhook.delete_instance()


# -- events to deliveries -------------------------------------------------------------------------


def _payload(delivery_id: str, event: str, event_id: str, occurred_at: float, data: dict) -> str:
    return json.dumps(
        {"id": delivery_id, "event": event, "eventId": event_id, "timestamp": iso(occurred_at), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def publish(account_id: int, event: str, data: dict, occurred_at: float) -> list[str]:
    """Turn one event into a delivery per matching webhook of the account and queue each.

    Runs inside the request that fired the event (the LiveKit webhook): one query, one insert, one
    enqueue per delivery. The rows are written first: a delivery whose job could not be queued
    (Redis down) stays pending and the sweep queues it later, so an accepted event is not lost.
    Fire events after committing: a job that runs before the rows are visible finds nothing, and
    the delivery waits for the sweep (stuck_after_seconds).

    :returns: the ids of the deliveries made.
    """
    webhooks = [
        w
        for w in Webhook.select(Webhook.id, Webhook.events).where(Webhook.account_id == account_id)
        if ALL_EVENTS in w.event_list or event in w.event_list
    ]
    if not webhooks:
        return []
    event_id = "evt_" + uuid.uuid4().hex
    now = utcnow()
    rows = []
    for webhook in webhooks:
        delivery_id = "dlv_" + uuid.uuid4().hex
        rows.append(
            {
                "id": delivery_id,
                "webhook": webhook.id,
                "account_id": account_id,
                "event": event,
                "event_id": event_id,
                "payload": _payload(delivery_id, event, event_id, occurred_at, data),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
        )
    with db.atomic():
        Delivery.insert_many(rows).execute()
    ids = [row["id"] for row in rows]
    queue_deliveries(ids)
    return ids


def queue_deliveries(ids: list[str], delay: float = 0) -> int:
    """Queue a delivery job per id; returns how many were queued (the others wait for the sweep)."""
    from redis import RedisError

    from core.queue import enqueue, enqueue_in

    queued = 0
    for delivery_id in ids:
        try:
            if delay > 0:
                enqueue_in(delay, DELIVER_JOB, delivery_id)
            else:
                enqueue(DELIVER_JOB, delivery_id)
            queued += 1
        except RedisError as err:
            log.warning("delivery %s not queued (%s); the sweep will queue it", delivery_id, err)
    return queued


# -- attempts -------------------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" under the webhook's secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, event: str, delivery_id: str, attempt: int) -> dict[str, str]:
    """Headers of one attempt, signed at send time (a retry hours later still has a fresh timestamp)."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": f"mediaplane-webhooks/{core.__version__}",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        ATTEMPT_HEADER: str(attempt),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: "v1=" + signature(secret, timestamp, body),
    }


def _send(webhook: Webhook, delivery: Delivery, attempt: int, settings: dict) -> http.Outcome:
    body = delivery.payload.encode()
    try:
        secret = unseal(webhook.secret_encrypted)
    except Exception:  # noqa: BLE001 - InvalidToken: the server key changed since the secret was saved
        return http.Outcome("refused", error="the secret cannot be decrypted (server key changed); rotate it")
    outcome = http.send(
        webhook.url,
        body,
        signed_headers(secret, body, delivery.event, delivery.id, attempt),
        allowed=http.parse_networks(settings["allow_private_cidrs"]),
        connect_timeout=settings["connect_timeout_seconds"],
        total_timeout=settings["timeout_seconds"],
        max_response_bytes=settings["max_response_bytes"],
        ca_file=settings["ca_file"],
    )
    metrics.attempted(outcome.kind, outcome.duration)
    return outcome


def backoff(attempts: int, settings: dict) -> int:
    """Seconds before the next attempt after `attempts` attempts: base, 2x base, 4x base, ... capped."""
    return min(settings["retry_base_seconds"] * 2 ** (attempts - 1), settings["retry_max_seconds"])


def attempt(delivery_id: str, settings: dict) -> str:
    """Make the next attempt of a delivery if it is due and nobody else is making it; returns what happened.

    Safe to run twice for the same delivery, at once or later (a sweep and a retry, or a worker killed
    mid-attempt whose job runs again): an attempt first claims the delivery with a conditional update,
    and a finished delivery is never sent again. A worker that dies after the receiver got the request
    but before the result was written causes a second send with the same delivery id (at least once).
    """
    now = utcnow()
    row = Delivery.get_or_none(Delivery.id == delivery_id)
    if row is None:
        return "gone"  # its webhook was deleted
    if row.status in ("succeeded", "failed"):
        return row.status
    if row.status == "delivering" and row.lease_until and row.lease_until > now:
        # Another attempt owns it (or did, in a worker that died): look again when its lease ends.
        queue_deliveries([delivery_id], (row.lease_until - now).total_seconds() + 1)
        return "busy"
    if (
        row.status == "pending"
        and row.next_attempt_at
        and row.next_attempt_at > now + dt.timedelta(seconds=1)
    ):
        return "early"  # a duplicate job; the one queued for next_attempt_at will make the attempt
    if row.attempts >= settings["max_attempts"]:
        _finish(row, row.attempts, "failed", error=row.error or "the worker stopped during the last attempt")
        return "failed"
    number = row.attempts + 1
    lease = dt.timedelta(seconds=settings["timeout_seconds"] + LEASE_MARGIN_SECONDS)
    claimed = (
        Delivery.update(
            status="delivering",
            attempts=number,
            last_attempt_at=now,
            lease_until=now + lease,
            next_attempt_at=None,
        )
        .where(Delivery.id == delivery_id, Delivery.status == row.status, Delivery.attempts == row.attempts)
        .execute()
    )
    if not claimed:
        return "raced"
    webhook = Webhook.get_or_none(Webhook.id == row.webhook_id)
    if webhook is None:
        return "gone"
    outcome = _send(webhook, row, number, settings)
    fields = {
        "response_code": outcome.status_code,
        "response_body": outcome.response_body,
        "error": outcome.error,
        "duration_ms": int(outcome.duration * 1000),
    }
    if outcome.ok:
        _finish(row, number, "succeeded", **fields)
        return "succeeded"
    if outcome.retryable and number < settings["max_attempts"]:
        wait = backoff(number, settings)
        updated = (
            Delivery.update(
                status="pending",
                lease_until=None,
                next_attempt_at=utcnow() + dt.timedelta(seconds=wait),
                **fields,
            )
            .where(Delivery.id == delivery_id, Delivery.status == "delivering", Delivery.attempts == number)
            .execute()
        )
        if updated:
            queue_deliveries([delivery_id], wait)
        log.info("delivery %s attempt %d failed (%s); next in %d s", delivery_id, number, outcome.error, wait)
        return "retrying"
    _finish(row, number, "failed", **fields)
    log.warning("delivery %s failed after %d attempt(s): %s", delivery_id, number, outcome.error)
    return "failed"


def _finish(row: Delivery, number: int, status: str, **fields) -> None:
    updated = (
        Delivery.update(
            status=status, completed_at=utcnow(), lease_until=None, next_attempt_at=None, **fields
        )
        .where(
            Delivery.id == row.id,
            Delivery.attempts == number,
            Delivery.status.not_in(["succeeded", "failed"]),
        )
        .execute()
    )
    if updated:
        metrics.finished(status)


def send_test(account_id: int, webhook_id: str, settings: dict) -> dict:
    """Send a `test` event now, within the request (at most timeout_seconds), once, and log it.

    :raises NotFound: unknown here.
    """
    webhook = _get(account_id, webhook_id)
    delivery_id = "dlv_" + uuid.uuid4().hex
    event_id = "evt_" + uuid.uuid4().hex
    now = utcnow()
    data = {"message": "mediaplane webhook test", "webhookId": webhook.id}
    row = Delivery.create(
        id=delivery_id,
        webhook=webhook.id,
        account_id=account_id,
        event=TEST_EVENT,
        event_id=event_id,
        payload=_payload(delivery_id, TEST_EVENT, event_id, time.time(), data),
        status="delivering",
        attempts=1,
        created_at=now,
        last_attempt_at=now,
        lease_until=now + dt.timedelta(seconds=settings["timeout_seconds"] + LEASE_MARGIN_SECONDS),
    )
    outcome = _send(webhook, row, 1, settings)
    _finish(
        row,
        1,
        "succeeded" if outcome.ok else "failed",
        response_code=outcome.status_code,
        response_body=outcome.response_body,
        error=outcome.error,
        duration_ms=int(outcome.duration * 1000),
    )
    answer = {"delivered": outcome.ok, "statusCode": outcome.status_code, "deliveryId": delivery_id}
    if not outcome.ok:
        answer["error"] = outcome.error
    return answer


# -- the log, the sweep, the purge ----------------------------------------------------------------


def delivery_out(row: Delivery) -> dict:
    return {
        "id": row.id,
        "event": row.event,
        "eventId": row.event_id,
        "status": row.status,
        "attempts": row.attempts,
        "responseCode": row.response_code,
        "responseBody": row.response_body,
        "error": row.error,
        "durationMs": row.duration_ms,
        "createdAt": iso(row.created_at),
        "lastAttemptAt": iso(row.last_attempt_at),
        "nextAttemptAt": iso(row.next_attempt_at),
        "completedAt": iso(row.completed_at),
    }


def deliveries(
    account_id: int, webhook_id: str, limit: int, cursor: str | None = None, status: str | None = None
) -> tuple[list[dict], str | None]:
    """A page of the webhook's deliveries, newest first, and the cursor of the next page (None: last).

    :raises NotFound: unknown here.
    """
    webhook = _get(account_id, webhook_id)
    query = Delivery.select().where(Delivery.webhook == webhook.id)
    if cursor is not None:
        query = query.where(Delivery.seq < int(cursor))
    if status is not None:
        query = query.where(Delivery.status == status)
    rows = list(query.order_by(Delivery.seq.desc()).limit(limit))
    next_cursor = str(rows[-1].seq) if len(rows) == limit else None
    return [delivery_out(r) for r in rows], next_cursor


def sweep(settings: dict, batch: int = 1000) -> int:
    """Queue deliveries that are overdue by stuck_after_seconds: their job was lost (Redis restarted
    empty, or was down when the event came) or their worker died and no retry is left. Returns how
    many were queued."""
    cutoff = utcnow() - dt.timedelta(seconds=settings["stuck_after_seconds"])
    query = (
        Delivery.select(Delivery.id)
        .where(
            ((Delivery.status == "pending") & (Delivery.next_attempt_at < cutoff))
            | ((Delivery.status == "delivering") & (Delivery.lease_until < cutoff))
        )
        .order_by(Delivery.seq)
        .limit(batch)
    )
    ids = [row.id for row in query]
    return queue_deliveries(ids) if ids else 0


def purge(settings: dict) -> int:
    """Delete finished deliveries older than delivery_retention_days; returns how many."""
    cutoff = utcnow() - dt.timedelta(days=settings["delivery_retention_days"])
    return (
        Delivery.delete()
        .where(Delivery.status.in_(["succeeded", "failed"]), Delivery.completed_at < cutoff)
        .execute()
    )
