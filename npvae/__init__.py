"""npvae: a variational autoencoder written from scratch in NumPy, every gradient by hand."""

from . import reference
from .evaluation.elbo import active_units, evaluate, iwae_nll, kl_per_dimension
from .models.factorvae import FactorVAE
from .utils.version import installed_version
from .models.registry import load
from .models.tcvae import TCVAE
from .models.vae import VAE, LossParts
from .nn.layers import Dense, ReLU, Sequential, Sigmoid, Tanh
from .nn.optim import SGD, Adam
from .nn.params import Parameters
from .training.fit import fit

__version__ = installed_version()

__all__ = ["VAE", "TCVAE", "FactorVAE", "LossParts", "Dense", "ReLU", "Tanh", "Sigmoid",
           "Sequential", "Adam", "SGD", "Parameters", "reference", "fit", "load", "evaluate",
           "iwae_nll", "kl_per_dimension", "active_units", "VAETransformer"]


def __getattr__(name):
    """``npvae.VAETransformer``, imported when first used: it imports scikit-learn, which takes
    a second or two that ``import npvae`` need not pay."""
    if name == "VAETransformer":
        from .sklearn import VAETransformer
        return VAETransformer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
