"""The root of autopost's own errors, in a module of its own so the CLI can start without the rest."""


class AutopostError(Exception):
    """Root of every error autopost raises on purpose."""
