"""Our own /openapi.json: it validates, documents each error in its blueprint's dialect, declares limits."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator, validate

from core.errors import PROBLEM_JSON
from core.openapi import AUTHENTICATED

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Not an error answer: /readyz answers 503 with its readiness body (status, checks) for probes.
OWN_BODY = {("/readyz", "get", "503")}


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def dialects(app) -> dict:
    """Error dialect of each tag (blueprint name) of the document."""
    router = app.extensions["mediaplane"].router
    return {name: router.by_blueprint.get(name, PROBLEM_JSON) for name in router.by_blueprint}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_validates(document):
    errors = [error.message for error in OpenAPIV30SpecValidator(document).iter_errors()]
    assert errors == []
    validate(document)  # the library's own entry point agrees


def test_a_broken_document_is_caught(document):
    """The validator is not vacuous: the defect of issue 9 (a header without a schema) fails it."""
    operation = document["paths"]["/api/rtcstats/v1.0/sessions"]["get"]
    del operation["responses"]["200"]["headers"]["X-Total-Count"]["schema"]
    assert list(OpenAPIV30SpecValidator(document).iter_errors())


def test_every_error_answer_is_documented_in_its_blueprints_dialect(app, document):
    by_tag = dialects(app)
    schemas = document["components"]["schemas"]
    for path, method, operation in operations(document):
        (tag,) = operation["tags"]
        dialect = by_tag[tag]
        assert "default" not in operation["responses"], (path, method)
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, method, status) in OWN_BODY:
                continue
            content = response.get("content", {})
            assert list(content) == [dialect.media_type], (path, method, status)
            ref = content[dialect.media_type]["schema"]
            if "$ref" in ref:  # the MCP transport documents its error schema inline, the same one
                assert ref == {"$ref": f"#/components/schemas/{dialect.schema_name}"}, (path, method, status)
            else:
                assert ref == schemas[dialect.schema_name], (path, method, status)
        assert "500" in operation["responses"], (path, method)


def test_dialect_schemas_are_the_real_error_bodies(document):
    schemas = document["components"]["schemas"]
    assert set(schemas["ReportError"]["required"]) == {"code", "message", "data"}
    assert set(schemas["RtcstatsError"]["required"]) == {"error", "errorCode"}
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status"}
    assert "Error" not in schemas  # flask-smorest's generic error schema matches no dialect


def test_authenticated_operations_document_401_403_and_503(document):
    secured = 0
    for path, method, operation in operations(document):
        if "Requires scope" in operation.get("description", ""):
            secured += 1
            assert {str(s) for s in AUTHENTICATED} <= set(operation["responses"]), (path, method)
            headers = operation["responses"]["503"]["headers"]
            assert headers["Retry-After"]["schema"] == {"type": "integer"}
    assert secured >= 20


def test_no_422_where_the_dialect_answers_400(document):
    for path, method, operation in operations(document):
        if path.startswith("/report") or path.startswith("/api/rtcstats") or path.startswith("/v1.0"):
            responses = operation["responses"]
            if "422" in responses:  # only the stored-dump failures of GET /sessions/{id}
                assert path.endswith("/sessions/{rtcstatsId}") and method == "get", (path, method)
                assert "analysis_failed" in responses["422"]["description"]


def test_report_routes_document_what_they_send(document):
    ingest = document["paths"]["/report/metrics"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "415", "429", "500", "503"} == set(ingest)
    assert ingest["429"]["headers"]["Retry-After"]
    reads = document["paths"]["/report/metrics/{room_id}"]["get"]["responses"]
    assert {"404", "401", "403"} <= set(reads)


def test_core_routes_are_documented_as_problem_json(document):
    assert set(document["paths"]) >= {"/healthz", "/readyz", "/metrics"}
    ready = document["paths"]["/readyz"]["get"]["responses"]
    assert set(ready["503"]["content"]["application/json"]["schema"]["required"]) == {"status", "checks"}
    assert document["paths"]["/healthz"]["get"]["responses"]["500"]["content"].keys() == {
        "application/problem+json"
    }


def test_path_parameters_declare_their_rules(document):
    def parameter(path, name):
        return next(p for p in document["paths"][path]["parameters"] if p["name"] == name)

    for base in ("/api/rtcstats/v1.0", "/v1.0"):
        assert parameter(f"{base}/sessions/{{rtcstatsId}}", "rtcstatsId")["schema"]["format"] == "uuid"
    assert parameter("/rtcstats/view/{rtcstatsId}", "rtcstatsId")["schema"]["format"] == "uuid"
    room = parameter("/report/history/{room_id}", "room_id")["schema"]
    assert room["maxLength"] == 255 and room["pattern"]


def test_list_filters_and_multipart_fields_declare_their_limits(document):
    listing = document["paths"]["/api/rtcstats/v1.0/sessions"]["get"]
    params = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert params["name"]["maxItems"] == 20
    assert params["name"]["items"]["maxLength"] == 200 and params["name"]["items"]["pattern"]
    assert params["limit"]["maximum"] == 1000 and params["limit"]["minimum"] == 1
    form = document["components"]["schemas"]["UploadChunkForm"]
    assert set(form["required"]) == {"chunk", "fileId", "chunkIndex"}
    assert form["properties"]["fileId"]["maxLength"] == 200


def test_limits_come_from_the_settings_of_the_app(make_app):
    app = make_app({"plugins": {"report": {"history_default_limit": 2, "history_max_limit": 3}}})
    document = app.test_client().get("/openapi.json").get_json()
    history = document["paths"]["/report/history/{room_id}"]["get"]
    limit = next(p for p in history["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 3


def test_the_printable_rule_is_the_one_the_code_applies(client, new_key, document):
    """Names with Unicode spaces are printable; control characters are not, as the pattern says."""
    import re

    listing = document["paths"]["/api/rtcstats/v1.0/sessions"]["get"]
    pattern = next(p for p in listing["parameters"] if p["name"] == "name")["schema"]["items"]["pattern"]
    headers = {"X-API-Key": new_key("rtcstats:read")}
    for value, printable in (
        ("caf\u00e9 room", True),
        ("a\u00a0b", True),
        ("a\u3000b", True),
        ("a\x07b", False),
    ):
        assert bool(re.match(pattern, value)) is printable, value
        response = client.get("/api/rtcstats/v1.0/sessions", query_string={"name": value}, headers=headers)
        assert response.status_code == (200 if printable else 400), (value, response.data)


def test_viewer_assets_need_no_key(client, document):
    operation = document["paths"]["/rtcstats/assets/{filename}"]["get"]
    assert operation["security"] == []
    listing = client.get("/rtcstats/assets/viewer.js")
    assert listing.status_code == 200, listing.data
    assert client.get("/rtcstats/assets/nope.js").status_code == 404
    assert document["paths"]["/vendor/{filename}"]["get"]["security"] == []
    assert client.get("/vendor/uPlot.LICENSE").status_code == 200
    # A page needs credentials or a token, as documented.
    page = document["paths"]["/rtcstats/view/{rtcstatsId}"]["get"]
    assert {"ApiKey": []} in page["security"]


def test_the_document_is_stable_across_requests(client):
    first = client.get("/openapi.json").get_data()
    assert json.loads(first) == json.loads(client.get("/openapi.json").get_data())
