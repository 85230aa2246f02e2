"""Rooms, participants and ingresses per account."""

from plugins.room.models import Ingress, Participant, Room


def up(migrator, database):
    database.create_tables([Room, Participant, Ingress])
