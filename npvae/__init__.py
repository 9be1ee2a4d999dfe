"""npvae: a variational autoencoder written from scratch in NumPy, every gradient by hand.

``import npvae`` is quick: each name below is imported from its module when first used, so that
a student checking an exercise needs NumPy alone, and scikit-learn (``VAETransformer``) or
matplotlib load only for what uses them.
"""

import importlib

from . import reference
from .utils.version import installed_version

__version__ = installed_version()

# name -> the module that defines it
_HOMES = {"VAE": "models.vae", "LossParts": "models.vae", "TCVAE": "models.tcvae",
          "FactorVAE": "models.factorvae", "load": "models.registry",
          "Dense": "nn.layers", "ReLU": "nn.layers", "Tanh": "nn.layers", "Sigmoid": "nn.layers",
          "Sequential": "nn.layers", "Adam": "nn.optim", "SGD": "nn.optim",
          "Parameters": "nn.params", "fit": "training.fit", "evaluate": "evaluation.elbo",
          "iwae_nll": "evaluation.elbo", "kl_per_dimension": "evaluation.elbo",
          "active_units": "evaluation.elbo", "VAETransformer": "sklearn"}

__all__ = ["VAE", "TCVAE", "FactorVAE", "LossParts", "Dense", "ReLU", "Tanh", "Sigmoid",
           "Sequential", "Adam", "SGD", "Parameters", "reference", "fit", "load", "evaluate",
           "iwae_nll", "kl_per_dimension", "active_units", "VAETransformer"]


def __getattr__(name):
    """``npvae.VAE`` and the other names of ``__all__``, imported when first used."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
