"""Rooms, snapshots and samples."""

from plugins.report.models import Room, Sample, Snapshot


def up(migrator, database):
    database.create_tables([Room, Snapshot, Sample])
