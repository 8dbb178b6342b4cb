"""caloforge: machine-learning fast simulation of calorimeter showers."""

from caloforge._version import __version__

__all__ = ["__version__"]
