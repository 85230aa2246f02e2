"""The core's own migrations (accounts, API keys)."""
