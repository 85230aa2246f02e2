"""Migrations of the analytics plugin."""
