"""Tables of the webhooks plugin: subscriptions and the log of their deliveries."""

from __future__ import annotations

import peewee

from core.db import BaseModel


class Webhook(BaseModel):
    """A subscription of one account: where to send which events, and the signing secret (encrypted:
    it must be read back to sign, so it cannot be hashed like an API key)."""

    id = peewee.CharField(max_length=40, primary_key=True)  # "wh_" + 24 hex
    account_id = peewee.IntegerField(index=True)
    url = peewee.TextField()
    events = peewee.TextField()  # space-separated event names, or "*"
    secret_encrypted = peewee.TextField()
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "webhooks_webhook"

    @property
    def event_list(self) -> list[str]:
        return self.events.split()


class Delivery(BaseModel):
    """One event for one webhook, from its creation to success or the last failed attempt.

    `seq` orders the log and pages it; `id` is what the receiver sees (it dedupes by it) and stays
    the same across the retries of the delivery.
    """

    seq = peewee.AutoField()
    id = peewee.CharField(max_length=40, unique=True)  # "dlv_" + 32 hex
    webhook = peewee.ForeignKeyField(Webhook, on_delete="CASCADE", index=False)
    account_id = peewee.IntegerField()
    event = peewee.CharField(max_length=64)
    event_id = peewee.CharField(max_length=40)
    payload = peewee.TextField()  # the exact JSON body sent, identical on every attempt
    # pending (waiting for its next attempt), delivering (an attempt runs), succeeded, failed
    status = peewee.CharField(max_length=16)
    attempts = peewee.IntegerField(default=0)
    response_code = peewee.IntegerField(null=True)
    response_body = peewee.TextField(null=True)  # the first bytes of the last answer
    error = peewee.TextField(null=True)
    duration_ms = peewee.IntegerField(null=True)  # of the last attempt
    created_at = peewee.DateTimeField()
    next_attempt_at = peewee.DateTimeField(null=True)
    last_attempt_at = peewee.DateTimeField(null=True)
    completed_at = peewee.DateTimeField(null=True)
    lease_until = peewee.DateTimeField(null=True)  # an attempt in progress owns the delivery until then

    class Meta:
        table_name = "webhooks_delivery"
        indexes = (
            (("webhook", "seq"), False),
            (("status", "next_attempt_at"), False),
            (("created_at",), False),
        )


MODELS = [Webhook, Delivery]
