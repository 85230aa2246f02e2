"""Add a colour column (a second migration, to test ordering and history)."""

import peewee


def up(migrator, database):
    from playhouse.migrate import migrate

    migrate(migrator.add_column("gadget_gadget", "colour", peewee.CharField(default="red")))
