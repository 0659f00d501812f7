"""The ``hub`` command line: ``main`` parses, ``commands`` runs, ``summary`` reports a run."""

from hub.cli.main import main

__all__ = ["main"]
