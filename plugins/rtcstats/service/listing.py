"""GET /sessions: filters and paging from query args or MCP arguments, and the filtered list."""

from __future__ import annotations

import json
from collections.abc import Mapping

import marshmallow as ma
from peewee import fn

from core.errors import summarize_field_errors
from plugins.rtcstats.models import READY, Session, SessionLabel
from plugins.rtcstats.schemas import PagingSchema, SessionFiltersSchema
from plugins.rtcstats.service.config import settings
from plugins.rtcstats.service.errors import InvalidRequest
from plugins.rtcstats.service.wire import iso, viewer_urls


def _raw_args(raw) -> dict:
    """Query args (a MultiDict: repeated keys kept) or MCP arguments (a JSON object) as one dict.

    An empty query value counts as absent (`?browser=&hasCritical=`, as dashboards send the inputs
    left blank), for every key; a key left with no value is dropped. MCP arguments are JSON, where the
    vendor's inputSchema says what an empty string means (minLength 1: refused).
    """
    if hasattr(raw, "getlist"):
        values = {key: [v for v in raw.getlist(key) if v != ""] for key in raw}
        return {key: given for key, given in values.items() if given}
    if not isinstance(raw, Mapping):
        raise InvalidRequest("arguments: must be an object")
    return dict(raw)


def _unwrap_scalars(values: dict, schema: ma.Schema) -> dict:
    """A query key given once arrives as a one-element list: the single value a flag or number wants."""
    out = {}
    for key, value in values.items():
        field = schema.fields.get(key)
        if field is not None and not isinstance(field, ma.fields.List) and isinstance(value, list):
            if len(value) != 1:
                raise InvalidRequest(f"{key}: give one value")
            value = value[0]
        out[key] = value
    return out


def parse_filters(raw) -> dict:
    """Validated session filters from query args (MultiDict) or MCP tool arguments (dict).

    Array filters accept repeated keys, comma-separated values, or JSON lists; `observationFlags`
    is folded into `observationTypes`. Returns only the filters given: {name: [..], os: [..],
    hasCritical: True, ...} (flags that are false are dropped: false means "no filter").

    :raises InvalidRequest: an invalid value; the message names the filter.
    """
    schema = SessionFiltersSchema()
    try:
        loaded = schema.load(_unwrap_scalars(_raw_args(raw), schema))
    except ma.ValidationError as err:
        raise InvalidRequest(summarize_field_errors(err.messages)) from None
    types = loaded.pop("observationTypes", []) + loaded.pop("observationFlags", [])
    if types:
        loaded["observationTypes"] = list(dict.fromkeys(types))
    return {k: v for k, v in loaded.items() if v not in (False, [], None)}


def parse_paging(raw, default_limit: int | None = None, max_limit: int | None = None) -> tuple[int, int]:
    """(limit, offset) from query args or MCP arguments; defaults and bound from the settings.

    :raises InvalidRequest: not positive whole numbers, or limit above the maximum.
    """
    if default_limit is None or max_limit is None:
        cfg = settings()
        default_limit = cfg["sessions_default_limit"] if default_limit is None else default_limit
        max_limit = cfg["sessions_max_limit"] if max_limit is None else max_limit
    schema = PagingSchema()
    try:
        loaded = schema.load(_unwrap_scalars(_raw_args(raw), schema))
    except ma.ValidationError as err:
        raise InvalidRequest(summarize_field_errors(err.messages)) from None
    limit = loaded.get("limit", default_limit)
    if limit > max_limit:
        raise InvalidRequest(f"limit: at most {max_limit}")
    return limit, loaded["offset"]


EXACT_COLUMNS = {
    "os": Session.os,
    "browser": Session.browser,
    "browserVersion": Session.browser_version,
    "userId": Session.user_id,
    "conferenceId": Session.conference_id,
    "sessionId": Session.session_ident,
}


def _any_of(expressions):
    combined = None
    for expression in expressions:
        combined = expression if combined is None else combined | expression
    return combined


def _filtered(account_id: int, filters: dict):
    query = Session.select().where(Session.account_id == account_id)
    if filters.get("name"):
        query = query.where(_any_of(Session.title.contains(v) for v in filters["name"]))
    for key, kind in (("observationTypes", "type"), ("observationTags", "tag")):
        if filters.get(key):
            labelled = SessionLabel.select(SessionLabel.session).where(
                SessionLabel.account_id == account_id,
                SessionLabel.kind == kind,
                SessionLabel.value.in_(filters[key]),
            )
            query = query.where(Session.id.in_(labelled))
    for key, column in EXACT_COLUMNS.items():
        if filters.get(key):
            query = query.where(column.in_(filters[key]))
    if filters.get("hasCritical"):
        query = query.where(Session.observations_critical > 0)
    if filters.get("hasHigh"):
        query = query.where(Session.observations_high > 0)
    if filters.get("hasMedium"):
        query = query.where(Session.observations_medium > 0)
    if filters.get("hasLowScore"):
        query = query.where(Session.experience_score < 60)
    if filters.get("hasMediumScore"):
        query = query.where((Session.experience_score >= 60) & (Session.experience_score < 80))
    if filters.get("hasHighScore"):
        query = query.where(Session.experience_score >= 80)
    return query


def list_item(row: Session, cfg: dict | None = None) -> dict:
    """A SessionListItem; abstract is null until the session is analysed."""
    return {
        "rtcstatsId": str(row.rtcstats_id),
        "createdAt": iso(row.created_at),
        "sessionStart": row.session_start,
        "sessionEnd": row.session_end,
        "title": row.title,
        **viewer_urls(row.rtcstats_id, cfg),
        "abstract": json.loads(row.abstract) if row.abstract and row.status == READY else None,
    }


def list_sessions(account_id: int, filters: dict, limit: int, offset: int) -> tuple[int, list[dict]]:
    """Sessions of the account matching `filters` (from parse_filters), newest first.

    Returns (number of all matching sessions, the SessionListItems of this page). The wire's
    `total` is the number of items in the page (specs/rtcstats-api.md); the API sends the number
    of all matches in the X-Total-Count header.
    """
    cfg = settings()
    total = count_query(account_id, filters).scalar()
    rows = page_query(account_id, filters, limit, offset, total) if offset < total else []
    return total, [list_item(row, cfg) for row in rows]


LIST_COLUMNS = (
    Session.id,
    Session.rtcstats_id,
    Session.created_at,
    Session.session_start,
    Session.session_end,
    Session.title,
    Session.status,
    Session.abstract,
)
NEWEST_FIRST = (Session.created_at.desc(), Session.id.desc())
OLDEST_FIRST = (Session.created_at, Session.id)


def count_query(account_id: int, filters: dict):
    """The number of the account's sessions matching `filters` (from the list index alone on
    PostgreSQL: migrations/0002_session_list_indexes.py)."""
    return _filtered(account_id, filters).select(fn.COUNT(Session.id))


def page_query(account_id: int, filters: dict, limit: int, offset: int, total: int):
    """The rows of this page (newest first) of the `total` sessions matching `filters`.

    The page's ids are found first, from the list index alone, so that an offset skips index
    entries rather than table rows, and from whichever end of the matches is nearer (the last page
    of 100,000 skips none); then only those rows are read, and only the columns a list item shows
    (not the stored analysis).
    """
    matches = _filtered(account_id, filters).select(Session.id)
    after = total - offset - limit  # matches older than this page
    if after < offset:
        ids = matches.order_by(*OLDEST_FIRST).limit(limit + min(after, 0)).offset(max(after, 0))
    else:
        ids = matches.order_by(*NEWEST_FIRST).limit(limit).offset(offset)
    return Session.select(*LIST_COLUMNS).where(Session.id.in_(ids)).order_by(*NEWEST_FIRST)
