"""Indexes of GET /sessions at scale: the account's sessions newest first, and label filters, answered
from the indexes alone (issue 13: 100,000 sessions of one account, deep offsets).

rtcstats_session_list replaces (account_id, created_at): with `id` the page's ids come from the index
in list order (a deep offset skips index entries, not table rows); on PostgreSQL it also carries the
filtered columns (INCLUDE), so counting the matches and finding the page read the index only. The
label index gains session_id for the same reason. Building them locks writes to the two tables for
about a second per 100,000 sessions.
"""

# The columns of the list filters that are not labels or the title (plugins.rtcstats.service.listing).
FILTERED = (
    "browser, browser_version, os, user_id, conference_id, session_ident, experience_score, "
    "observations_critical, observations_high, observations_medium"
)


def up(migrator, database):
    from peewee import PostgresqlDatabase

    include = f" INCLUDE ({FILTERED})" if isinstance(database, PostgresqlDatabase) else ""
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS rtcstats_session_list "
        f'ON rtcstats_session ("account_id", "created_at", "id"){include}'
    )
    database.execute_sql("DROP INDEX IF EXISTS rtcstats_session_account_id_created_at")
    # 0001 creates the tables from the current models: a database created by it has this one already.
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS rtcstats_session_label_account_id_kind_value_session_id "
        'ON rtcstats_session_label ("account_id", "kind", "value", "session_id")'
    )
    database.execute_sql("DROP INDEX IF EXISTS rtcstats_session_label_account_id_kind_value")
