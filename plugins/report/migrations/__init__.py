"""Migrations of the report plugin."""
