"""`python -m bakeoff.cli` runs the console script."""

from bakeoff.cli import entrypoint

entrypoint()
