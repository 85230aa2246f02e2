"""Migrations of the webhooks plugin."""
