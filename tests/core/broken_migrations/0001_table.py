"""Create a table."""


def up(migrator, database):
    database.execute_sql("CREATE TABLE broken_thing (id INTEGER PRIMARY KEY)")
