"""Tests of the webhooks plugin."""
