"""Create a second table, then fail."""


def up(migrator, database):
    database.execute_sql("CREATE TABLE broken_other (id INTEGER PRIMARY KEY)")
    raise RuntimeError("migration bug")
