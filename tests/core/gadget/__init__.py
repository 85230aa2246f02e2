"""A third-party plugin used to test the core: it implements every core hook and records the calls."""
