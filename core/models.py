"""Core tables: accounts and their API keys."""

from __future__ import annotations

import peewee

from core.db import BaseModel, utcnow


class Account(BaseModel):
    name = peewee.CharField(max_length=128, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "core_account"


class ApiKey(BaseModel):
    """An API key: a public id plus a secret that is kept hashed (to check) and encrypted (to sign)."""

    account = peewee.ForeignKeyField(Account, backref="keys", on_delete="CASCADE")
    key_id = peewee.CharField(max_length=64, unique=True)
    secret_hash = peewee.CharField(max_length=64)
    secret_encrypted = peewee.TextField()
    scopes = peewee.TextField()  # space-separated, e.g. "report:ingest report:read"
    name = peewee.CharField(max_length=128, default="")
    created_at = peewee.DateTimeField(default=utcnow)
    revoked_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "core_api_key"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()
