"""Recordings per account."""

from plugins.recording.models import Recording


def up(migrator, database):
    database.create_tables([Recording])
