"""GET /sessions: filters and paging from query args or MCP arguments, and the filtered list."""

from __future__ import annotations

import json
from collections.abc import Mapping

import marshmallow as ma
from peewee import fn

from core.errors import summarize_field_errors
from plugins.rtcstats.models import LIVE, READY, Session, SessionLabel
from plugins.rtcstats.schemas import PagingSchema, SessionFiltersSchema
from plugins.rtcstats.service.config import settings
from plugins.rtcstats.service.errors import InvalidRequest
from plugins.rtcstats.service.live import live_facts, state_of
from plugins.rtcstats.service.wire import iso, viewer_links


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


# Filters on one column each: the column's name, on a session and on the copy its labels carry.
EXACT_COLUMNS = {
    "os": "os",
    "browser": "browser",
    "browserVersion": "browser_version",
    "userId": "user_id",
    "conferenceId": "conference_id",
    "sessionId": "session_ident",
}
LABEL_FILTERS = (("observationTypes", "type"), ("observationTags", "tag"))


def _any_of(expressions):
    combined = None
    for expression in expressions:
        combined = expression if combined is None else combined | expression
    return combined


def _column_conditions(source, filters: dict) -> list:
    """The filters on the list columns, as conditions on `source` (Session, or SessionLabel's copies)."""
    conditions = [
        getattr(source, name).in_(filters[key]) for key, name in EXACT_COLUMNS.items() if filters.get(key)
    ]
    score = source.experience_score
    flags = {
        "hasCritical": source.observations_critical > 0,
        "hasHigh": source.observations_high > 0,
        "hasMedium": source.observations_medium > 0,
        "hasLowScore": score < 60,
        "hasMediumScore": (score >= 60) & (score < 80),
        "hasHighScore": score >= 80,
    }
    return conditions + [condition for flag, condition in flags.items() if filters.get(flag)]


def _labelled(account_id: int, kind: str, values: list):
    """The ids of the account's sessions having any of these labels of this kind."""
    return SessionLabel.select(SessionLabel.session).where(
        SessionLabel.account_id == account_id, SessionLabel.kind == kind, SessionLabel.value.in_(values)
    )


class Matches:
    """The account's sessions matching the filters, as the rows of one table, with `session_id` and
    `created_at` columns to count and order them by.

    Filtered by a label and not by name, they are that label's rows (their copies of the session's
    columns filtered), read from the label index in list order; a session may then appear once per
    label value asked for (`repeats`). Else they are the session rows.
    """

    def __init__(self, account_id: int, filters: dict):
        driving = next(((key, kind) for key, kind in LABEL_FILTERS if filters.get(key)), None)
        if driving is not None and not filters.get("name"):
            key, kind = driving
            source, self.session_id = SessionLabel, SessionLabel.session
            self.repeats = len(filters[key]) > 1
            query = SessionLabel.select().where(
                SessionLabel.account_id == account_id,
                SessionLabel.kind == kind,
                SessionLabel.value.in_(filters[key]),
            )
        else:
            key = None
            source, self.session_id, self.repeats = Session, Session.id, False
            query = Session.select().where(Session.account_id == account_id)
        if filters.get("name"):
            query = query.where(_any_of(Session.title.contains(v) for v in filters["name"]))
        for other, kind in LABEL_FILTERS:
            if other != key and filters.get(other):
                query = query.where(self.session_id.in_(_labelled(account_id, kind, filters[other])))
        conditions = _column_conditions(source, filters)
        self.query = query.where(*conditions) if conditions else query
        self.created_at = source.created_at

    def count(self):
        counted = fn.COUNT(fn.DISTINCT(self.session_id)) if self.repeats else fn.COUNT(self.session_id)
        return self.query.select(counted)

    def ids(self, newest_first: bool, limit: int, offset: int):
        """The session ids of this slice of the matches, in that order."""
        order = (self.created_at, self.session_id)
        ids = self.query.select(self.session_id)
        if self.repeats:  # a session once, whichever of its labels matched
            ids = ids.group_by(self.session_id, self.created_at)
        ids = ids.order_by(*(column.desc() for column in order) if newest_first else order)
        return ids.limit(limit).offset(offset)


def list_item(row: Session, cfg: dict | None = None, links=None) -> dict:
    """A SessionListItem; abstract is null until the session is analysed. `state` (live, pending,
    analyzed, failed) is ours; a live session adds `live`, the facts known so far (live.py).
    `links`: a wire.viewer_links maker, shared by the items of a page."""
    links = links or viewer_links(cfg)
    item = {
        "rtcstatsId": str(row.rtcstats_id),
        "createdAt": iso(row.created_at),
        "sessionStart": row.session_start,
        "sessionEnd": row.session_end,
        "title": row.title,
        **links(row.rtcstats_id),
        "abstract": json.loads(row.abstract) if row.abstract and row.status == READY else None,
        "state": state_of(row.status),
    }
    if row.status == LIVE:
        item["live"] = live_facts(row)
    return item


def list_sessions(account_id: int, filters: dict, limit: int, offset: int) -> tuple[int, list[dict]]:
    """Sessions of the account matching `filters` (from parse_filters), newest first.

    Returns (number of all matching sessions, the SessionListItems of this page). The wire's
    `total` is the number of items in the page (specs/rtcstats-api.md); the API sends the number
    of all matches in the X-Total-Count header.
    """
    total = count_query(account_id, filters).scalar()
    rows = page_query(account_id, filters, limit, offset, total) if offset < total else []
    links = viewer_links(settings())
    return total, [list_item(row, links=links) for row in rows]


LIST_COLUMNS = (
    Session.id,
    Session.rtcstats_id,
    Session.account_id,  # a live item's uploader
    Session.created_at,
    Session.session_start,
    Session.session_end,
    Session.title,
    Session.status,
    Session.abstract,
)
NEWEST_FIRST = (Session.created_at.desc(), Session.id.desc())


def count_query(account_id: int, filters: dict):
    """The number of the account's sessions matching `filters`, from an index alone on PostgreSQL:
    the list index (migrations/0002), or that of the label filtered by (migrations/0003)."""
    return Matches(account_id, filters).count()


def page_query(account_id: int, filters: dict, limit: int, offset: int, total: int):
    """The rows of this page (newest first) of the `total` sessions matching `filters`.

    The page's ids are found first, from the index alone, so that an offset skips index entries
    rather than table rows, and from whichever end of the matches is nearer (the last page of
    100,000 skips none); then only those rows are read, and only the columns a list item shows
    (not the stored analysis).
    """
    matches = Matches(account_id, filters)
    after = total - offset - limit  # matches older than this page
    if after < offset:
        ids = matches.ids(newest_first=False, limit=limit + min(after, 0), offset=max(after, 0))
    else:
        ids = matches.ids(newest_first=True, limit=limit, offset=offset)
    return Session.select(*LIST_COLUMNS).where(Session.id.in_(ids)).order_by(*NEWEST_FIRST)
