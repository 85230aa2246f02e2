"""analytics_call.final_roll_due: an ended call's minutes are redone once past its end."""

import peewee


def up(migrator, database):
    from playhouse.migrate import migrate

    # 0001 creates the tables from the current models: a database created by it has the column.
    if "final_roll_due" not in {c.name for c in database.get_columns("analytics_call")}:
        migrate(migrator.add_column("analytics_call", "final_roll_due", peewee.BooleanField(default=False)))
