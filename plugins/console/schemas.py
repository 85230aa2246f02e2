"""Config schema of the console plugin."""

from __future__ import annotations

from marshmallow import fields, validate

from core.config import PluginConfigSchema, describe, int_setting


class ConsoleConfigSchema(PluginConfigSchema):
    enabled = fields.Boolean(load_default=True, metadata=describe("Serve the operator console at /."))
    session_max_age_seconds = int_setting(
        43200, "A console sign-in lasts this long (seconds) before the API key is asked again.", 60
    )
    secure_cookie = fields.String(
        load_default="auto",
        validate=validate.OneOf(["auto", "always", "never"]),
        metadata=describe(
            "Secure flag of the session cookie: auto sets it when the request came over HTTPS, directly "
            "or as the reverse proxy's X-Forwarded-Proto says; always; never."
        ),
    )
    chart_window_seconds = int_setting(
        3600, "How far back the charts of a room page reach, seconds.", 60, 7 * 86400
    )
    refresh_seconds = int_setting(5, "How often the charts of a live room refresh, seconds.", 1, 3600)
    list_limit = int_setting(50, "Rows per page of the console's lists (rooms, sessions).", 1, 1000)
