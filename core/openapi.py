"""The error answers of every OpenAPI operation, documented in the error dialect of its blueprint.

Views never describe error bodies themselves. They (or the decorators they use) only say which
statuses they can answer: `require` adds 401/403, a rate-limited view adds 429, and a view adds what
its own code raises with `@errors(400, 413, ...)`. When a blueprint is registered, `document_errors`
turns those statuses into responses whose schema and content type are those of the blueprint's
dialect (`Dialect.schema`), so that a later plugin's routes are documented right without any
OpenAPI code of its own. Validation errors are documented with the dialect's status (400 or 422),
never both, and flask-smorest's generic "default" error response (whose schema matches no dialect)
is not used.
"""

from __future__ import annotations

import copy
import functools

from core.errors import PROBLEM_JSON, Dialect

APIDOC_KEY = "mediaplane_errors"  # in a view's _apidoc: {status: description or None}

# Wording used when neither the view nor the dialect describes a status more precisely.
DESCRIPTIONS = {
    400: "Invalid request; the message names the field",
    401: "Missing or invalid credentials",
    403: "The key lacks the scope the operation requires",
    404: "Not found (also when it belongs to another account)",
    409: "Conflict",
    413: "The body exceeds a size limit",
    415: "Unsupported media type",
    422: "Invalid request; `errors` names the fields",
    429: "Too many requests; retry after Retry-After seconds",
    500: "Unexpected server error; the message carries a request id to quote to the operator",
    503: "A dependency (database, Redis) is unavailable or busy; retry after Retry-After seconds",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
}
HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "The accepted authentication scheme.",
            "schema": {"type": "string"},
        }
    },
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}
# Every operation can fail unexpectedly; an authenticated one also reads the database to check the
# key (a busy pool answers 503).
ALWAYS = (500,)
AUTHENTICATED = (401, 403, 503)


def errors(*statuses: int, **described: str):
    """View decorator: the operation can answer these error statuses (in its blueprint's dialect).

    `described` gives a specific description per status, keyed `_409="..."` (keyword names cannot be
    numbers). Decorators compose: each adds to what the view already declares.
    """
    extra = {int(name.lstrip("_")): text for name, text in described.items()}

    def decorate(view):
        add_errors(view, dict.fromkeys(statuses) | extra)
        return view

    return decorate


def add_errors(view, statuses: dict[int, str | None]) -> None:
    """Record error statuses (with optional descriptions) in a view's OpenAPI information."""
    apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
    declared = apidoc.setdefault(APIDOC_KEY, {})
    for status, description in statuses.items():
        if description or status not in declared:
            declared[status] = description
    view._apidoc = apidoc


def error_response(dialect: Dialect, status: int, description: str | None = None) -> dict:
    """The OpenAPI response of an error `status` in `dialect`."""
    response = {
        "description": description or dialect.descriptions.get(status) or DESCRIPTIONS.get(status, "Error"),
        "content": {dialect.media_type: {"schema": {"$ref": f"#/components/schemas/{dialect.schema_name}"}}},
    }
    if status in HEADERS:
        response["headers"] = copy.deepcopy(HEADERS[status])
    return response


def register_dialect_schema(spec, dialect: Dialect) -> None:
    if dialect.schema_name in spec.components.schemas:
        return
    if isinstance(dialect.schema, dict):
        spec.components.schema(dialect.schema_name, component=copy.deepcopy(dialect.schema))
    else:  # a marshmallow schema class
        spec.components.schema(dialect.schema_name, schema=dialect.schema)


def _document_operation(doc: dict, doc_info: dict, *, dialect: Dialect, spec, **_kwargs) -> dict:
    """A flask-smorest doc callback: adds the operation's error responses in `dialect`."""
    register_dialect_schema(spec, dialect)
    responses = doc.setdefault("responses", {})
    # flask-smorest documents argument errors as a 422 (a reference to its own generic response)
    # whatever status the dialect really sends; a 422 a view declares itself is a dict and stays.
    for status in (422, "422"):
        if isinstance(responses.get(status), str):
            del responses[status]
    declared: dict[int, str | None] = dict.fromkeys(ALWAYS)
    if doc_info.get("arguments"):
        declared[dialect.validation_status] = None
    declared.update(doc_info.get(APIDOC_KEY, {}))
    for status, description in sorted(declared.items()):
        if str(status) in responses or status in responses:
            continue
        responses[str(status)] = error_response(dialect, status, description)
    return doc


def document_errors(blueprint) -> None:
    """Make `blueprint` (a flask-smorest Blueprint) document its error answers in its dialect.

    Call before the blueprint is registered with the Api (MediaplaneApi.register_blueprint does).
    """
    if getattr(blueprint, "_mediaplane_errors_documented", False):  # a module-level blueprint, new app
        return
    blueprint._mediaplane_errors_documented = True
    dialect = getattr(blueprint, "error_dialect", PROBLEM_JSON)
    callback = functools.partial(_document_operation, dialect=dialect)
    blueprint._prepare_doc_cbks.append(callback)
