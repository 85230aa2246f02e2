"""GET /quota and GET /observations: the account's credits and the observation catalogue."""

from __future__ import annotations

from plugins.rtcstats import credits
from plugins.rtcstats.service.config import settings


def quota(account) -> dict:
    """The GET /quota body of `account` (a core.auth.Actor or a core.models.Account)."""
    cfg = settings()
    account_id = getattr(account, "account_id", None) or account.id
    name = getattr(account, "account_name", None) or account.name
    allowed, remaining = credits.balance(account_id, cfg["monthly_credits"])
    return {
        "accountName": name,
        "accountPlan": cfg["account_plan"],
        "allowedCredits": allowed,
        "remainingCredits": remaining,
    }


def observation_catalogue() -> dict:
    """GET /observations: {total, data: [{type, title, severity, tags}]} sorted by type."""
    from plugins.rtcstats.analysis.observations import catalogue

    entries = sorted(catalogue(), key=lambda e: e["type"])
    return {"total": len(entries), "data": entries}
