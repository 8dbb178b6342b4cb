"""Command-line interface: thin commands over the Python API (the only place that prints).

Each verb lives in its own module, which registers itself on the shared ``app``.
"""

from caloforge.cli import data, detector  # noqa: F401  (register commands)
from caloforge.cli._app import app, main

__all__ = ["app", "main"]
