"""webhooks plugin: signed outgoing event deliveries with retries (rooms API /v1/webhooks)."""
