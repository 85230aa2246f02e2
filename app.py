"""WSGI entry point: `gunicorn app:app` (mediaplane serve does this with the right settings)."""

from core.app import create_app

app = create_app()
