"""Webhooks and their deliveries."""

from plugins.webhooks.models import Delivery, Webhook


def up(migrator, database):
    database.create_tables([Webhook, Delivery])
