"""analytics_track_minute indexed by (call, peer, minute): per-peer reads of a call (peer-stats, details)."""


def up(migrator, database):
    # 0001 creates the tables from the current models: a database created by it has the index already.
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS analytics_track_minute_call_peer_minute "
        'ON analytics_track_minute ("call", "peer", "minute")'
    )
    database.execute_sql("DROP INDEX IF EXISTS analytics_track_minute_call_minute")
