"""Monthly credits per account: atomic consume (so concurrent requests never overdraw) and refunds.

Policy: a credit is taken before any work (none left -> InsufficientCredits, the API's 402) and given
back when the work fails: a dump that cannot be analysed costs nothing. Each account has
`monthly_credits` per calendar month (UTC) plus what an operator grants for that month.
"""

from __future__ import annotations

import datetime as dt

from core.db import utcnow
from plugins.rtcstats.models import CreditUsage


class InsufficientCredits(Exception):
    """The account has no credit left this month."""


def current_period(now: dt.datetime | None = None) -> str:
    return (now or utcnow()).strftime("%Y-%m")


def _row(account_id: int, period: str) -> None:
    CreditUsage.insert(account_id=account_id, period=period).on_conflict_ignore().execute()


def balance(account_id: int, monthly: int, period: str | None = None) -> tuple[int, int]:
    """(allowed, remaining) credits of the account in `period` (default: this month)."""
    period = period or current_period()
    row = CreditUsage.get_or_none(CreditUsage.account_id == account_id, CreditUsage.period == period)
    used, granted = (row.used, row.granted) if row else (0, 0)
    allowed = monthly + granted
    return allowed, max(0, allowed - used)


def ensure_available(account_id: int, monthly: int) -> None:
    """:raises InsufficientCredits: no credit left (nothing is taken)."""
    if balance(account_id, monthly)[1] <= 0:
        raise InsufficientCredits("no credits left this month; see GET /quota")


def consume(account_id: int, monthly: int) -> str:
    """Take one credit; returns the period it was taken from (pass it to refund()).

    One conditional UPDATE, so two requests racing for the last credit cannot both win.

    :raises InsufficientCredits: none left.
    """
    period = current_period()
    _row(account_id, period)
    taken = (
        CreditUsage.update(used=CreditUsage.used + 1)
        .where(
            CreditUsage.account_id == account_id,
            CreditUsage.period == period,
            CreditUsage.used < monthly + CreditUsage.granted,
        )
        .execute()
    )
    if not taken:
        raise InsufficientCredits("no credits left this month; see GET /quota")
    return period


def refund(account_id: int, period: str) -> None:
    """Give back one credit taken in `period`."""
    CreditUsage.update(used=CreditUsage.used - 1).where(
        CreditUsage.account_id == account_id, CreditUsage.period == period, CreditUsage.used > 0
    ).execute()


def grant(account_id: int, credits: int, period: str | None = None) -> None:
    """Add `credits` (may be negative) to the account's allowance of `period` (default: this month)."""
    period = period or current_period()
    _row(account_id, period)
    CreditUsage.update(granted=CreditUsage.granted + credits).where(
        CreditUsage.account_id == account_id, CreditUsage.period == period
    ).execute()
