"""The Agora-style App ID of each account: the `appid` its /beta/... requests must name."""

from __future__ import annotations

import peewee

from core.db import BaseModel, utcnow


class Project(BaseModel):
    """One analytics project per account; `appid` (32 hex digits, like Agora's) names it in requests.

    Every call, user and rollup of the account belongs to its project: the appid only has to match
    the caller's account. Replacing it (`mediaplane analytics appid --new`) makes the old one unknown.
    """

    account_id = peewee.IntegerField(unique=True)
    appid = peewee.CharField(max_length=32, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "analytics_project"


MODELS = [Project]
