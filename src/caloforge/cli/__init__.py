"""Command-line interface: thin commands over the Python API (the only place that prints).

Each verb lives in its own module, which registers itself on the shared ``app``.
"""

from caloforge.cli import bench as _bench  # noqa: F401  (register command)
from caloforge.cli import data, detector  # noqa: F401  (register commands)
from caloforge.cli import evaluate as _evaluate  # noqa: F401  (register command)
from caloforge.cli import export as _export  # noqa: F401  (register command)
from caloforge.cli import merge as _merge  # noqa: F401  (register command)
from caloforge.cli import pretrained as _pretrained  # noqa: F401  (register commands)
from caloforge.cli import recipe as _recipe  # noqa: F401  (register commands)
from caloforge.cli import simulate as _simulate  # noqa: F401  (register command)
from caloforge.cli import train as _train  # noqa: F401  (register train, generate, models)
from caloforge.cli import tune as _tune  # noqa: F401  (register command)
from caloforge.cli._app import app, main

__all__ = ["app", "main"]
