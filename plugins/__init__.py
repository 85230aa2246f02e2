"""Built-in plugins: one package each, enabled per deployment in the config file."""
