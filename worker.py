"""Dramatiq entry point: `dramatiq worker` imports the actors from here."""
