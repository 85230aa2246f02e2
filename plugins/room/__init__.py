"""room plugin: LiveKit rooms, join tokens, participants and ingress under /v1 (rooms-api.md)."""
