"""Transcriptions, segments and account phrase lists."""

from plugins.transcription.models import PhraseList, Segment, Transcription


def up(migrator, database):
    database.create_tables([Transcription, Segment, PhraseList])
