"""room plugin: LiveKit rooms, join tokens, participants, ingress and the LiveKit webhook receiver."""
