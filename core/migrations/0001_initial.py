"""Accounts and API keys."""

from core.models import Account, ApiKey


def up(migrator, database):
    database.create_tables([Account, ApiKey])
