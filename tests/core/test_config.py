"""Configuration layers, validation messages naming the dotted key, and default.toml completeness."""

from __future__ import annotations

import tomllib

import pytest

from core.config import DEFAULT_FILE, ConfigError, CoreConfigSchema, load_core, read_raw
from core.plugins import Plugins
from plugins.report.schemas import ReportConfigSchema


def settings(environ=None, overrides=None):
    raw = read_raw(overrides=overrides, environ=environ or {})
    return load_core(raw), Plugins(raw.get("plugins"))


def test_defaults_load_without_any_file_or_env():
    core, plugins = settings()
    assert core["data_dir"] == "./data"
    assert core["server"]["port"] == 8180
    assert plugins.settings("report")["live_window_seconds"] == 120


def test_env_overrides_nested_values_and_lists():
    core, plugins = settings(
        {
            "MEDIAPLANE__CORE__SERVER__PORT": "9000",
            "MEDIAPLANE__CORE__JOB_RETRY_INTERVALS": "1,2,3",
            "MEDIAPLANE__PLUGINS__REPORT__CORS_ORIGINS": "https://a.example, https://b.example",
            "MEDIAPLANE__PLUGINS__REPORT__ENABLED": "true",
        }
    )
    assert core["server"]["port"] == 9000
    assert core["job_retry_intervals"] == [1, 2, 3]
    assert plugins.settings("report")["cors_origins"] == ["https://a.example", "https://b.example"]


def test_config_file_then_env_then_overrides(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(
        '[core]\nlog_level = "DEBUG"\ndata_dir = "/srv/mp"\n[plugins.report]\nretention_days = 7\n'
    )
    core, plugins = settings({"MEDIAPLANE_CONFIG": str(path), "MEDIAPLANE__CORE__DATA_DIR": "/env"})
    assert core["log_level"] == "DEBUG"
    assert core["data_dir"] == "/env"
    assert plugins.settings("report")["retention_days"] == 7
    core, _ = settings({"MEDIAPLANE_CONFIG": str(path)}, {"core": {"log_level": "ERROR"}})
    assert core["log_level"] == "ERROR"


def test_secrets_come_from_the_environment(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[core]\ndatabase_url = {env = "PG_URL"}\n')
    core, _ = settings({"MEDIAPLANE_CONFIG": str(path), "PG_URL": "postgresql://u:p@db/x"})
    assert core["database_url"] == "postgresql://u:p@db/x"
    with pytest.raises(ConfigError, match=r"core\.database_url: environment variable PG_URL is not set"):
        settings({"MEDIAPLANE_CONFIG": str(path)})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MEDIAPLANE__CORE__BOGUS": "1"}, r"core\.bogus: Unknown field"),
        ({"MEDIAPLANE__CORE__SERVER__PORT": "http"}, r"core\.server\.port: Not a valid integer"),
        ({"MEDIAPLANE__CORE__SERVER__PORT": "70000"}, r"core\.server\.port: Must be greater"),
        ({"MEDIAPLANE__CORE__STORAGE__BACKEND": "ftp"}, r"core\.storage\.backend: Must be one of"),
        (
            {"MEDIAPLANE__CORE__STORAGE__BACKEND": "s3"},
            r"core\.storage\.endpoint: required when backend is s3",
        ),
        ({"MEDIAPLANE__PLUGINS__REPORT__LIVE_WINDOW_SECONDS": "-1"}, r"plugins\.report\.live_window_seconds"),
        ({"MEDIAPLANE__PLUGINS__REPORT__INGEST_RATE_LIMIT": "lots"}, r"plugins\.report\.ingest_rate_limit"),
        ({"MEDIAPLANE__PLUGINS__REPORT__COLOUR": "red"}, r"plugins\.report\.colour: Unknown field"),
        (
            {
                "MEDIAPLANE__PLUGINS__REPORT__HISTORY_DEFAULT_LIMIT": "500",
                "MEDIAPLANE__PLUGINS__REPORT__HISTORY_MAX_LIMIT": "100",
            },
            r"plugins\.report\.history_default_limit: must not exceed history_max_limit",
        ),
        ({"MEDIAPLANE__PLUGINS__NOSUCH__ENABLED": "true"}, r"plugins\.nosuch: unknown plugin"),
        ({"MEDIAPLANE__STRAY__X": "1"}, r"stray: unknown section"),
    ],
)
def test_bad_settings_stop_startup_naming_the_key(environ, message):
    with pytest.raises(ConfigError, match=message):
        settings(environ)


def test_missing_or_broken_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        settings({"MEDIAPLANE_CONFIG": str(tmp_path / "nope.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("[core\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings({"MEDIAPLANE_CONFIG": str(broken)})


def _schema_defaults(schema_cls) -> dict:
    out = {}
    for name, field in schema_cls().fields.items():
        if hasattr(field, "nested"):
            out[name] = _schema_defaults(field.nested)
        else:
            default = field.load_default
            out[name] = default() if callable(default) else default
    return out


def test_default_toml_documents_every_setting_with_the_schema_default():
    with open(DEFAULT_FILE, "rb") as fh:
        documented = tomllib.load(fh)
    assert documented["core"] == _schema_defaults(CoreConfigSchema)
    assert documented["plugins"]["report"] == _schema_defaults(ReportConfigSchema)
