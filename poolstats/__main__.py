"""``python -m poolstats``: the same as the ``poolstats`` command."""

from poolstats.cli import app

app()
