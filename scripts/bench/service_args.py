"""Command-line options of the benchmarks that run against the local PostgreSQL and Redis: the same
servers (and environment variables) as the test suite, so a bench needs no set-up of its own."""

from __future__ import annotations

import argparse
import os


def add_service_args(parser: argparse.ArgumentParser) -> None:
    """--database-url (the bench makes and drops a scratch schema in it) and --redis-url (for its app)."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MEDIAPLANE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("MEDIAPLANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
