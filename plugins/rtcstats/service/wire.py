"""Wire helpers shared by the routes: viewer URLs, timestamps, titles, ids and text cleaning."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import PurePosixPath

from core.text import printable_only
from plugins.rtcstats.models import Session
from plugins.rtcstats.service.config import settings
from plugins.rtcstats.service.errors import InvalidRequest
from plugins.rtcstats.viewer_tokens import viewer_token, with_token

ACCOUNT_NAMESPACE = uuid.UUID("6f1d5a7e-2b7e-4c1e-9a51-6d0f0b0e7a11")  # uploaded_by uuids of accounts


DUMP_EXTENSIONS = {".gz", ".txt", ".json", ".jsonl", ".log", ".dump", ".rtcstats"}


def public_base(cfg: dict | None = None) -> str:
    """Base URL of the viewer links: the public_url setting, else the host of the current request."""
    cfg = cfg or settings()
    if cfg["public_url"]:
        return cfg["public_url"].rstrip("/")
    from flask import has_request_context, request

    return request.host_url.rstrip("/") if has_request_context() else ""


def viewer_links(cfg: dict | None = None):
    """A maker of a session's {rtcstatsUrl, embedUrl} (see viewer_urls) with the base URL, the plan and
    the caller looked up once: a session list makes a hundred (the look-ups were a fifth of an item's
    cost)."""
    from flask import g, has_request_context

    cfg = cfg or settings()
    base = public_base(cfg)
    embed = cfg["account_plan"] == "enterprise"
    actor = g.get("actor") if has_request_context() else None

    def links(rtcstats_id) -> dict:
        out = {"rtcstatsUrl": f"{base}/rtcstats/view/{rtcstats_id}"}
        if embed:
            out["embedUrl"] = f"{base}/rtcstats/embed/{rtcstats_id}"
        if actor is not None:
            # One token opens both pages (it names the session, not the page): signed once, as
            # signing is the largest cost of a list item.
            token = viewer_token(actor.account_id, rtcstats_id, actor.key_id)
            out = {name: with_token(url, token) for name, url in out.items()}
        return out

    return links


def viewer_urls(rtcstats_id, cfg: dict | None = None) -> dict:
    """{rtcstatsUrl, embedUrl}; embedUrl only on the enterprise plan (as the vendor does).

    Inside a request the URLs carry a signed, expiring viewer token for the caller's account and key,
    so that a browser can open them without sending an API key header.
    """
    return viewer_links(cfg)(rtcstats_id)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


def uploader_uuid(account_id: int) -> str:
    return str(uuid.uuid5(ACCOUNT_NAMESPACE, f"account:{account_id}"))


def title_for(file_name: str | None, data: dict | None = None) -> str:
    """The session title: the file name without its dump extensions, else the analyzer's title."""
    if file_name:
        path = PurePosixPath(file_name.replace("\\", "/")).name
        while PurePosixPath(path).suffix.lower() in DUMP_EXTENSIONS and PurePosixPath(path).stem:
            path = PurePosixPath(path).stem
        return path[:500] or file_name[:500]
    title = clean_text((data or {}).get("title"), 500)
    return title or "untitled"


def parse_uuid(value) -> uuid.UUID:
    """:raises InvalidRequest: not a UUID."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"rtcstatsId: '{str(value)[:80]}' is not a UUID") from None


def printable_text(value) -> str:
    """The text without control characters (PostgreSQL text refuses NUL; none belongs in a name)."""
    return printable_only(str(value))


def clean_text(value, limit: int = 200) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = printable_text(value).strip()
    return text[:limit] if text else None


def truthy(value) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def with_session_fields(data: dict, row: Session | None) -> dict:
    """The stored-session fields of AnalyzeResponseData (null when nothing is stored, except `id`)."""
    out = dict(data)
    # The contract documents `id` as a uuid, not nullable, and names only created_at, uploaded_by and
    # uploaded_by_email as null without ?save; the vendor's uploader reads data.id. Unsaved, it is a
    # fresh uuid that names nothing: it is not stored, so GET /sessions/{id} answers 404 for it.
    out["id"] = str(row.rtcstats_id) if row else str(uuid.uuid4())
    out["created_at"] = iso(row.created_at) if row else None
    out["uploaded_by"] = uploader_uuid(row.account_id) if row else None
    out["uploaded_by_email"] = None
    out.setdefault("public_link", None)
    out.setdefault("description", None)
    out.setdefault("tags", [])
    if row is not None:
        out["fileName"] = row.file_name
        out["title"] = row.title
    return out
