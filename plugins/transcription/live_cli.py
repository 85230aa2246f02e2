"""`mediaplane transcribe-live`: the live transcription worker process."""

from __future__ import annotations

import click


@click.command("transcribe-live")
def transcribe_live():
    """Run the live transcription worker: joins rooms whose live transcription is started (hidden,
    subscribe only) and writes segments; stop it with SIGTERM (the last words are flushed)."""
    import logging

    from core.cli import app_context
    from core.db import db
    from plugins.transcription import engine, live_worker

    with app_context() as app:
        pass
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()  # the worker opens its own connections from its database thread
    level = app.extensions["mediaplane"].config["core"]["log_level"]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo("live transcription worker starting (loading the Vosk model)")
    try:
        live_worker.serve(app)
    except engine.ModelUnavailable as error:
        raise click.ClickException(f"live transcription needs a model: {error}") from None
