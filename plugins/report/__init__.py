"""report plugin: SDK quality metrics ingest, live rooms, latest metrics and history."""
