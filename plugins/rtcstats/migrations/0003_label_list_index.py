"""GET /sessions filtered by an observation type or tag, answered from the label index alone (issue 13).

Each label row gains a copy of its session's created_at and filtered columns (models.LABEL_COPIES),
filled here from the sessions; store_analysis writes them with the labels from now on. The index
rtcstats_session_label_list (account_id, kind, value, created_at, session_id), on PostgreSQL INCLUDE
the copies, then counts and pages such a list reading only that label's entries, in list order
(before: every list entry of the account, hash-joined with the label's sessions, twice). It replaces
0002's (account_id, kind, value, session_id), whose lookups it answers too. Filling the copies
rewrites every label row and locks writes to the label table meanwhile: 4.3 min for 840,000 labels
on PostgreSQL on a heavily loaded machine (load average 10 on 2 cores).
"""

import peewee

TABLE = "rtcstats_session_label"
# The copied columns as this migration adds them (the model may change later; this must not).
COPIES = {
    "created_at": peewee.DateTimeField(null=True),
    "browser": peewee.CharField(max_length=200, null=True),
    "browser_version": peewee.CharField(max_length=200, null=True),
    "os": peewee.CharField(max_length=200, null=True),
    "user_id": peewee.CharField(max_length=255, null=True),
    "conference_id": peewee.CharField(max_length=255, null=True),
    "session_ident": peewee.CharField(max_length=255, null=True),
    "experience_score": peewee.DoubleField(null=True),
    "observations_critical": peewee.IntegerField(default=0),
    "observations_high": peewee.IntegerField(default=0),
    "observations_medium": peewee.IntegerField(default=0),
}


def up(migrator, database):
    from peewee import PostgresqlDatabase
    from playhouse.migrate import migrate

    # 0001 creates the tables from the current models: a database created by it has the columns.
    present = {column.name for column in database.get_columns(TABLE)}
    added = [migrator.add_column(TABLE, name, field) for name, field in COPIES.items() if name not in present]
    if added:
        migrate(*added)
    # The old index goes first: the UPDATE below then maintains two indexes instead of three.
    database.execute_sql("DROP INDEX IF EXISTS rtcstats_session_label_account_id_kind_value_session_id")
    # UPDATE .. FROM: PostgreSQL, and SQLite from 3.33.
    database.execute_sql(
        f"UPDATE {TABLE} SET "
        + ", ".join(f'"{name}" = s."{name}"' for name in COPIES)
        + f' FROM rtcstats_session AS s WHERE s."id" = {TABLE}."session_id"'
    )
    copies = ", ".join(name for name in COPIES if name != "created_at")
    include = f" INCLUDE ({copies})" if isinstance(database, PostgresqlDatabase) else ""
    database.execute_sql(
        f"CREATE INDEX IF NOT EXISTS rtcstats_session_label_list "
        f'ON {TABLE} ("account_id", "kind", "value", "created_at", "session_id"){include}'
    )
