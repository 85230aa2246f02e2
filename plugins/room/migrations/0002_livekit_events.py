"""LiveKit webhook event ids, to act on each event once."""

from plugins.room.models import LiveKitEvent


def up(migrator, database):
    database.create_tables([LiveKitEvent])
