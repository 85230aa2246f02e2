"""Live transcriptions and their segments."""

from plugins.transcription.live_models import LiveSegment, LiveTranscription


def up(migrator, database):
    database.create_tables([LiveTranscription, LiveSegment])
