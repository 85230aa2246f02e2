"""mediaplane core: app factory, config, plugins, database, queue, auth, errors."""

__version__ = "0.1.0"
