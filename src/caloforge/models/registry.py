"""The model registry: family name -> class, imported lazily.

A new family is one module defining a :class:`~caloforge.models.base.ShowerModel`
subclass plus one line in :data:`FAMILIES`.
"""

from __future__ import annotations

from caloforge._registry import load_registered
from caloforge.models.base import ShowerModel

FAMILIES: dict[str, str] = {
    "wgan-gp": "caloforge.models.wgan_gp:WGANGP",
    "vae": "caloforge.models.vae:VAE",
    "library": "caloforge.models.library:ShowerLibrary",
    "flow": "caloforge.models.flow:TwoStageFlow",
    "diffusion": "caloforge.models.diffusion:Diffusion",
    "pixelcnn": "caloforge.models.pixelcnn:PixelCNN",
    "layer-gan": "caloforge.models.layer_gan:LayerGAN",
    "gan3d": "caloforge.models.gan3d:GAN3D",
    "bib-ae": "caloforge.models.bib_ae:BIBAE",
    "patch-transformer": "caloforge.models.patch_transformer:PatchTransformerModel",
}
"""Registry name -> ``module:Class``."""


class UnknownFamilyError(KeyError):
    """The model family name is not registered."""


def family_names() -> list[str]:
    """Registered family names, in registry order."""
    return list(FAMILIES)


def get_family(name: str) -> type[ShowerModel]:
    """The class of family ``name``.

    Raises:
        UnknownFamilyError: naming the known families.
    """
    return load_registered(FAMILIES, name, ShowerModel, "model family", UnknownFamilyError)


def describe_families() -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, one-line summary, arXiv references) of every family."""
    out = []
    for name in FAMILIES:
        cls = get_family(name)
        out.append((name, cls.summary, cls.references))
    return out


__all__ = ["FAMILIES", "UnknownFamilyError", "describe_families", "family_names", "get_family"]
