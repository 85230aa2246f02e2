"""The operator console: the web UI at / built from the pages that enabled plugins contribute."""
