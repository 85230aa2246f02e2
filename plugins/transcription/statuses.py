"""States of a post-call transcription, in their own module: the config schema needs them and every CLI
command loads it, so they must not pull in peewee (tests/core/test_cli_imports.py)."""

STATUSES = ("queued", "processing", "completed", "failed")
