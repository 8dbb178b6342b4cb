"""Pretrained models shipped with caloforge, ready to generate without training.

Each shipped model is a folder of this package, ``caloforge/pretrained/NAME/``:
``model.pt`` (a caloforge checkpoint for inference, post-processors included),
``MODEL_CARD.md`` and ``manifest.json`` of the recipe run that made it. The folders of
``CALOFORGE_PRETRAINED_PATH`` are searched first (:mod:`caloforge.pretrained.registry`);
:func:`~caloforge.pretrained.packaging.ship_model` (``benchmarks/pretrained_model.sh``)
makes a folder from a finished recipe run.

Example:
    >>> import caloforge as cf
    >>> [m.name for m in cf.pretrained_models()]  # doctest: +SKIP
    ['atlas-pblar-gamma']
    >>> cf.generate_file("atlas-pblar-gamma", "g.h5", energy="loguniform:1GeV,100GeV",
    ...                  n=10_000)  # doctest: +SKIP
"""

from caloforge.pretrained.registry import (
    PRETRAINED_PATH_ENV,
    PretrainedError,
    PretrainedModel,
    describe_conditions,
    pretrained_model,
    pretrained_models,
    resolve_checkpoint,
    search_path,
    shipped_folder,
)

__all__ = [
    "PRETRAINED_PATH_ENV",
    "PretrainedError",
    "PretrainedModel",
    "describe_conditions",
    "pretrained_model",
    "pretrained_models",
    "resolve_checkpoint",
    "search_path",
    "shipped_folder",
]
