"""The gadget plugin's own event."""

from core.hookspecs import hookspec


@hookspec
def gadget_made(name):
    """A gadget was made. :param name: its name. Returns nothing."""
