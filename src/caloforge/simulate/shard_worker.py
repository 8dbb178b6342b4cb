"""Entry point of one shard task: ``python -m caloforge.simulate.shard_worker``.

Reads ``(SimulationConfig, output path, overwrite)`` pickled on standard input (written by
:func:`caloforge.simulate.dask_executor.run_shard`, never by a user) and runs
:func:`caloforge.simulate.simulate` in this fresh, non-daemonic process.
"""

from __future__ import annotations

import logging
import pickle
import sys


def main() -> int:
    """Simulate the shard described on standard input; exit status 0 on success."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from caloforge.simulate import simulate

    config, path, overwrite = pickle.loads(sys.stdin.buffer.read())
    simulate(config, path, overwrite=overwrite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
