"""Migrations of the rtcstats plugin."""
