"""Domain logic of the rtcstats plugin, one module per resource; this package names its public API.

Runs inside an app context (settings, object storage and the job queue are the app's); it builds
answers as plain dicts in the wire shape of specs/rtcstats-api.md and raises domain errors that
plugin.problem_from_exception maps to HTTP statuses. Where each route's logic lives:

- POST /upload: chunked_upload.py; POST /analyze: analyze.py; POST /enrich: enrichment.py
- GET /sessions: listing.py; GET and DELETE /sessions/{id}: session_by_id.py
- GET /quota and GET /observations: account.py
- the live collector's finished dumps (collector.py's WebSocket): collected.py; its sessions while
  the socket is open (state live): live.py
- beneath them: stored_analysis.py (analysing a stored dump, the jobs' work), abstract.py (the list's
  SessionAbstract), dump_checks.py (format and expansion checked before parsing), wire.py (URLs,
  titles, ids), config.py (settings, storage, limits), errors.py.

Callers (the blueprint, MCP, jobs, the CLI, interface.py) use `service.<name>`; the modules below
import one another directly.
"""

from plugins.rtcstats.credits import InsufficientCredits
from plugins.rtcstats.service.abstract import SEVERE, SEVERITIES, abstract_of, score_band, without_aliases
from plugins.rtcstats.service.account import observation_catalogue, quota
from plugins.rtcstats.service.analyze import analyze_assembled, analyze_body, analyze_now
from plugins.rtcstats.service.chunked_upload import assemble_upload, parse_assemble, upload_chunk
from plugins.rtcstats.service.collected import store_collected
from plugins.rtcstats.service.config import dump_key, limits, object_storage, processor_version, settings
from plugins.rtcstats.service.dump_checks import (
    SNIFF_BYTES,
    check_upload,
    check_whole,
    expanded_size,
    fits_in_a_request,
    recorded_expansion,
    sniff,
)
from plugins.rtcstats.service.enrichment import enrich, enrich_assembled, enrich_body, enrich_projection
from plugins.rtcstats.service.errors import (
    AnalysisFailed,
    AnalysisPending,
    InvalidRequest,
    NotFound,
    ReprocessFailed,
    RtcstatsError,
)
from plugins.rtcstats.service.listing import list_item, list_sessions, parse_filters, parse_paging
from plugins.rtcstats.service.live import (
    LIVE_RETRY_AFTER,
    SessionLive,
    fail_lost,
    live_facts,
    open_in_redis,
    state_of,
)
from plugins.rtcstats.service.session_by_id import delete_session, enqueue_once, get_session
from plugins.rtcstats.service.stored_analysis import (
    _finite,
    analyze_session,
    analyze_stored,
    outdated_sessions,
    run_analysis,
    store_analysis,
)
from plugins.rtcstats.service.wire import (
    iso,
    parse_uuid,
    printable_text,
    public_base,
    title_for,
    truthy,
    uploader_uuid,
    viewer_urls,
)

__all__ = [
    "LIVE_RETRY_AFTER",
    "SEVERE",
    "SEVERITIES",
    "SNIFF_BYTES",
    "AnalysisFailed",
    "AnalysisPending",
    "InsufficientCredits",
    "InvalidRequest",
    "NotFound",
    "ReprocessFailed",
    "RtcstatsError",
    "SessionLive",
    "_finite",
    "abstract_of",
    "analyze_assembled",
    "analyze_body",
    "analyze_now",
    "analyze_session",
    "analyze_stored",
    "assemble_upload",
    "check_upload",
    "check_whole",
    "delete_session",
    "dump_key",
    "enqueue_once",
    "enrich",
    "enrich_assembled",
    "enrich_body",
    "enrich_projection",
    "expanded_size",
    "fail_lost",
    "fits_in_a_request",
    "get_session",
    "iso",
    "limits",
    "list_item",
    "live_facts",
    "list_sessions",
    "object_storage",
    "observation_catalogue",
    "open_in_redis",
    "outdated_sessions",
    "parse_assemble",
    "parse_filters",
    "parse_paging",
    "parse_uuid",
    "printable_text",
    "processor_version",
    "public_base",
    "quota",
    "recorded_expansion",
    "run_analysis",
    "score_band",
    "settings",
    "sniff",
    "state_of",
    "store_analysis",
    "store_collected",
    "title_for",
    "truthy",
    "upload_chunk",
    "uploader_uuid",
    "viewer_urls",
    "without_aliases",
]
