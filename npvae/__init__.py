"""npvae: a variational autoencoder written from scratch in NumPy, every gradient by hand.

``import npvae`` is quick: each name below is imported from its module when first used, so that
a student checking an exercise needs NumPy alone, and scikit-learn (``VAETransformer``) or
matplotlib load only for what uses them.
"""

from . import reference
from .utils.lazy import lazy_names
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

__getattr__, __dir__ = lazy_names(__name__, _HOMES)
