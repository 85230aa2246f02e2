"""Migrations of the transcription plugin."""
