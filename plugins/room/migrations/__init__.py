"""Migrations of the room plugin."""
