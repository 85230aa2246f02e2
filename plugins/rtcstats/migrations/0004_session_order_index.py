"""GET /sessions without filters on PostgreSQL: its count and its deep offsets read a narrow index
(issue 13).

rtcstats_session_list (0002) covers the filtered columns, so each of its entries is ~3x the size of
(account_id, created_at, id) alone; counting an account's 100,000 sessions or skipping 50,000 of them
walked three times the pages it needs (measured at 100,000 sessions on a loaded machine: count 30 ms
-> 14-18 ms, ids at offset 50,000 20 ms -> 8-10 ms). The planner takes this index when no list column
is filtered, the covering one otherwise. On SQLite rtcstats_session_list has no INCLUDE and is this
index already. Building it locks writes to the sessions table for about a second per 100,000 sessions.
"""


def up(migrator, database):
    from peewee import PostgresqlDatabase

    if isinstance(database, PostgresqlDatabase):
        database.execute_sql(
            "CREATE INDEX IF NOT EXISTS rtcstats_session_order "
            'ON rtcstats_session ("account_id", "created_at", "id")'
        )
