"""Scaling out: Geant4 shards on a Dask cluster, shard merging, data-parallel training.

* :func:`simulate_dask` runs the shards of a simulation on a Dask cluster (a
  ``LocalCluster`` of one-thread worker processes by default);
* :func:`merge_showers` streams shard files into one file (event order restored for the
  complete set of shards of one run);
* :mod:`caloforge.distributed.ddp`: helpers the trainer uses under ``torchrun``.

Dask is optional (``pip install 'caloforge[dask]'``) and imported only when used.
"""

from caloforge.distributed.ddp import DistContext
from caloforge.distributed.merge import MergeError, merge_showers, shard_layout

__all__ = ["DistContext", "MergeError", "merge_showers", "shard_layout", "simulate_dask"]


def __getattr__(name: str) -> object:
    if name == "simulate_dask":
        from caloforge.distributed.dask_executor import simulate_dask

        return simulate_dask
    raise AttributeError(name)
