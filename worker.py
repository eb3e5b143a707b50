"""Dramatiq entry point: ``dramatiq worker`` imports the actors from here.

    PARTNERSYNC_QUEUE__BROKER=redis://127.0.0.1:6379/0 dramatiq worker --processes 2 worker

The settings come from ``PARTNERSYNC_SETTINGS`` (default ``./settings.toml``) and the
environment; the store is opened on the first message, not on import.
"""

from sync.actors import setup

actors = setup()
broker = actors.broker
