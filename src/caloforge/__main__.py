"""``python -m caloforge``: the command-line interface."""

from caloforge.cli import main

main()
