"""Conformance of our rtcstats API to the VENDOR's OpenAPI document, fuzzed with schemathesis.

The vendor file (specs/vendor/rtcstats-openapi.yml in the shared folder, MEDIAPLANE_SHARED_DIR)
documents the API under /v1.0, which our app serves as an alias of /api/rtcstats/v1.0. Every operation
is driven in-process (WSGI, no server) with requests generated from the vendor schema, authenticated
as a key holding rtcstats:read and rtcstats:write, and each response is checked:

- not_a_server_error: no generated request, valid or not, may produce a 5xx;
- response_schema_conformance: a response whose status the vendor documents matches the vendor's
  schema for it (undocumented statuses are not schema-checked), except where the vendor and our
  contract (shared/specs/rtcstats-api.md) legitimately differ, see EXCLUDED_CHECKS.

Deterministic and bounded: derandomized Hypothesis, no example database, at most MAX_EXAMPLES per
operation, a deadline per example. Left out: POST /v1.0/mcp (tests/plugins/rtcstats/test_mcp.py covers
the transport). Generated bodies are never real dumps, and generated fileIds / chunkIndexes are almost
never acceptable, so pure fuzzing of /upload, /analyze and /enrich only sees 4xx answers (which must
be in the documented error shape, never 5xx). So that the 200 schemas are exercised too:

- each test first stores one small real dump from the shared fixtures (POST /analyze?save=true, real
  analyzer) and adds explicit schemathesis cases that reach a 200: the chunked flow of /upload,
  /analyze and /enrich (multipart chunks, then the JSON assemble request), /analyze and /enrich of a
  raw body, GET and DELETE of that session, and GET /sessions then lists it;
- test_fuzzed_chunked_flows_reach_200 fuzzes the chunked flow with generated requests in which only
  what must be right to get past validation (fileId, chunkIndex, the chunk's bytes, assemble: true) is
  replaced, so generated file names, query values and extra fields reach the success path;
- test_a_nonconforming_answer_fails shows that the checks used do fail on a wrong 200 answer.

Runs on both databases: the whole module takes about ten seconds per backend.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from plugins.rtcstats import service
from tests.plugins.rtcstats.fixtures import dump_bytes
from tests.shared_data import require_for_module, vendor_dir

# The vendor document lies in the shared folder; without it the module is skipped (and CI fails).
SPEC = require_for_module(vendor_dir() / "rtcstats-openapi.yml")
MAX_EXAMPLES = 20
DEADLINE_MS = 2000
SMALL_DUMP = "jitsi_legacy_firefox-relay.jsonl"  # 28 KB, one relayed PC
CHUNK_BYTES = 10_000  # SMALL_DUMP in three chunks, as the official uploader splits a file
CHUNKED_OPERATIONS = ("upload", "analyze", "enrich")  # operationIds that take chunks, then assemble

# Operations not fuzzed here, by operationId.
SKIPPED_OPERATIONS = {
    "mcpStreamablePost": "MCP Streamable HTTP has its own tests (test_mcp.py)",
}

# Checks left out for one operation, by operationId, each naming the difference or bug.
EXCLUDED_CHECKS: dict[str, dict] = {}


def _our_contract(vendor: dict) -> dict:
    """The vendor document with each legitimate difference of our contract patched in, narrowly, so
    everything else in the same responses is still checked against the vendor's schema. None today:
    aiSummary is null (the vendor's value when there is no AI summary), our rule-based summary is the
    extension field ruleSummary, which AnalyzeResponseData's additionalProperties allows."""
    return vendor


def _document() -> dict:
    return _our_contract(yaml.safe_load(SPEC.read_text(encoding="utf-8")))


def _operations(document: dict) -> list:
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.definition.raw.get("operationId") not in SKIPPED_OPERATIONS]


def with_one_body(operation_id: str, media_type: str):
    """The operation as documented, except that its request body has only `media_type`.

    schemathesis draws the media type of a generated body among all that the operation accepts (its
    `media_type` argument applies only to an explicit body); a copy of the document narrowed to one
    makes it generate, say, only multipart chunks, with the responses still checked as documented.
    """
    document = _document()
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                content = operation["requestBody"]["content"]
                operation["requestBody"]["content"] = {media_type: content[media_type]}
    return next(op for op in _operations(document) if op.definition.raw.get("operationId") == operation_id)


OPERATIONS = _operations(_document())
BY_ID = {op.definition.raw.get("operationId"): op for op in OPERATIONS}
CHECKS = (not_a_server_error, response_schema_conformance)
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=DEADLINE_MS,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest.fixture
def auth(new_key) -> dict:
    return {"Authorization": f"Bearer {new_key('rtcstats:read', 'rtcstats:write')}"}


@pytest.fixture
def stored_session(app, auth) -> str:
    """One small real dump analysed and stored in the key's account: its rtcstatsId."""
    response = app.test_client().post(
        f"/v1.0/analyze?save=true&fileName={SMALL_DUMP}", data=dump_bytes(SMALL_DUMP), headers=auth
    )
    assert response.status_code == 200, response.data
    return response.get_json()["rtcstatsId"]


def chunk_cases(operation, file_id: str, data: bytes) -> list:
    """`data` as multipart chunk cases of `operation` (each answered {success: true})."""
    return [
        operation.Case(
            body={"chunk": data[start : start + CHUNK_BYTES], "fileId": file_id, "chunkIndex": str(index)},
            media_type="multipart/form-data",
        )
        for index, start in enumerate(range(0, len(data), CHUNK_BYTES))
    ]


def chunked_flow(operation, file_id: str, **assemble) -> list:
    """The chunks of SMALL_DUMP, then the JSON assemble request (its 200 is the operation's main one)."""
    body = {"fileId": file_id, "assemble": True, **assemble.pop("body", {})}
    return [
        *chunk_cases(operation, file_id, dump_bytes(SMALL_DUMP)),
        operation.Case(body=body, media_type="application/json", **assemble),
    ]


def known_good_cases(operation, rtcstats_id: str) -> list:
    """Explicit cases that reach a 200, in order, so its documented schema is checked, not only the
    errors."""
    operation_id = operation.definition.raw.get("operationId")
    dump = {"body": dump_bytes(SMALL_DUMP), "media_type": "application/octet-stream"}
    return {
        "upload": lambda: chunked_flow(operation, "known-good-upload", body={"fileName": SMALL_DUMP}),
        "analyze": lambda: [
            # Without ?save data.id is a fresh uuid (test_api_analyze explains why), so it conforms too.
            operation.Case(**dump),
            operation.Case(query={"save": "true"}, **dump),
            *chunked_flow(operation, "known-good-analyze"),
            *chunked_flow(operation, "known-good-analyze-saved", query={"save": "1"}),
        ],
        "enrich": lambda: [operation.Case(**dump), *chunked_flow(operation, "known-good-enrich")],
        "session": lambda: [operation.Case(path_parameters={"rtcstatsId": rtcstats_id})],
        "deleteSession": lambda: [operation.Case(path_parameters={"rtcstatsId": rtcstats_id})],
        "listSessions": lambda: [operation.Case()],
    }.get(operation_id, list)()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_vendor_openapi_conformance(app, auth, stored_session, operation):
    operation_id = operation.definition.raw.get("operationId")
    excluded = EXCLUDED_CHECKS.get(operation_id, {})
    checks = [check for check in CHECKS if check not in excluded]

    for case in known_good_cases(operation, stored_session):
        response = case.call(app=app, headers=auth)
        assert response.status_code == 200, (operation.label, case.media_type, response.text[:500])
        case.validate_response(response, checks=checks, headers=auth)

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(app=app, headers=auth)
        case.validate_response(response, checks=checks, headers=auth)

    run()


@pytest.mark.parametrize("operation_id", CHUNKED_OPERATIONS)
def test_fuzzed_chunked_flows_reach_200(app, auth, operation_id):
    """Generated chunk and assemble requests, made acceptable only where they must be: every answer is
    checked, and the success path (stored chunk, then the assembled analysis or session) is reached."""
    dump = dump_bytes(SMALL_DUMP)
    numbers = itertools.count()
    reached = []

    @FUZZ_SETTINGS
    @given(
        chunk=with_one_body(operation_id, "multipart/form-data").as_strategy(),
        assemble=with_one_body(operation_id, "application/json").as_strategy(),
    )
    def run(chunk, assemble):
        file_id = f"fuzz-{operation_id}-{next(numbers)}"
        # The vendor's request bodies are optional, so a case may come without one: make it a chunk.
        generated = chunk.body if isinstance(chunk.body, dict) else {}
        chunk.body = {**generated, "chunk": dump, "fileId": file_id, "chunkIndex": "0"}
        chunk.media_type = "multipart/form-data"
        response = chunk.call(app=app, headers=auth)
        chunk.validate_response(response, checks=list(CHECKS), headers=auth)
        assert response.status_code == 200, response.text[:500]
        generated = assemble.body if isinstance(assemble.body, dict) else {}
        assemble.body = {**generated, "fileId": file_id, "assemble": True}
        assemble.media_type = "application/json"
        response = assemble.call(app=app, headers=auth)
        assemble.validate_response(response, checks=list(CHECKS), headers=auth)
        reached.append(response.status_code)

    run()
    # Generated file names with control characters are refused (400), generated JSON that is too big
    # to be an assemble request is analysed as a dump (415), both in the documented shape (checked
    # above); the rest reach the success path.
    assert 200 in reached, reached


def test_a_nonconforming_answer_fails(app, auth, monkeypatch):
    """The checks are not vacuous: a 200 whose body breaks the vendor's schema fails them."""
    operation = BY_ID["upload"]
    original = service.assemble_upload

    def wrong(*args, **kwargs):
        return {**original(*args, **kwargs), "rtcstatsUrl": 42}  # the vendor: a string

    monkeypatch.setattr(service, "assemble_upload", wrong)
    *chunks, assemble = chunked_flow(operation, "wrong-answer", body={"fileName": SMALL_DUMP})
    for case in chunks:
        case.validate_response(case.call(app=app, headers=auth), checks=list(CHECKS), headers=auth)
    response = assemble.call(app=app, headers=auth)
    assert response.status_code == 200
    with pytest.raises(BaseExceptionGroup, match="rtcstatsUrl|42"):
        assemble.validate_response(response, checks=list(CHECKS), headers=auth)
