"""App IDs of the Agora-style endpoints (one per account)."""

from plugins.analytics.agora_models import Project


def up(migrator, database):
    database.create_tables([Project])
