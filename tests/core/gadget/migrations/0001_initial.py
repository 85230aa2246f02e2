"""Create the gadget table."""

from tests.core.gadget.models import Gadget


def up(migrator, database):
    database.create_tables([Gadget])
