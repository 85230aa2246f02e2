"""Sessions, their labels, credit usage and upload chunks."""

from plugins.rtcstats.models import CreditUsage, Session, SessionLabel, UploadChunk


def up(migrator, database):
    database.create_tables([Session, SessionLabel, CreditUsage, UploadChunk])
