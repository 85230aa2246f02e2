"""Migrations of the recording plugin."""
