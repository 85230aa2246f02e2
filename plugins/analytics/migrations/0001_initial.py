"""Calls, peers, tracks and their rollups."""

from plugins.analytics.models import AccountDay, AccountMinute, Call, Peer, Track, TrackMinute


def up(migrator, database):
    database.create_tables([Call, Peer, Track, TrackMinute, AccountMinute, AccountDay])
