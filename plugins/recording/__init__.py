"""recording plugin: LiveKit room-composite egress recordings stored in MinIO / S3."""
