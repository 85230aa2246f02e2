"""App IDs: create, show, replace and resolve the appid of an account (no Flask imports)."""

from __future__ import annotations

import secrets

import peewee

from plugins.analytics.agora_models import Project


class UnknownAppId(Exception):
    """The appid names no project of the caller's account (unknown, replaced, or another account's)."""


def _new_appid() -> str:
    return secrets.token_hex(16)


def appid_of(account_id: int, *, create: bool = True) -> str | None:
    """The account's appid; made on first use when `create` (None if absent and not created)."""
    project = Project.get_or_none(Project.account_id == account_id)
    if project is not None or not create:
        return project.appid if project else None
    try:
        with Project._meta.database.atomic():
            return Project.create(account_id=account_id, appid=_new_appid()).appid
    except peewee.IntegrityError:  # made meanwhile by another process
        return Project.get(Project.account_id == account_id).appid


def replace_appid(account_id: int) -> str:
    """Give the account a new appid; the old one is unknown from now on (e.g. after it leaked)."""
    appid = _new_appid()
    with Project._meta.database.atomic():
        updated = Project.update(appid=appid).where(Project.account_id == account_id).execute()
        if not updated:
            Project.create(account_id=account_id, appid=appid)
    return appid


def check_appid(account_id: int, appid: str) -> None:
    """:raises UnknownAppId: `appid` is not the project of `account_id`. Another account's appid gets
    exactly the same answer as one that does not exist, so no caller learns of others' projects."""
    if not Project.select().where(Project.account_id == account_id, Project.appid == appid).exists():
        raise UnknownAppId(f"appid '{appid}' is not a project of this account")
