"""npvae: a variational autoencoder written from scratch in NumPy, every gradient by hand."""

from .layers import Dense, ReLU, Sequential, Sigmoid, Tanh
from . import reference
from .optim import SGD, Adam
from .params import Parameters
from .evaluation import active_units, evaluate, iwae_nll, kl_per_dimension
from .train import fit
from .checkpoint import load
from .vae import VAE, LossParts
from .tcvae import TCVAE
from .factorvae import FactorVAE

__version__ = "0.1.0"

__all__ = ["VAE", "TCVAE", "FactorVAE", "LossParts", "Dense", "ReLU", "Tanh", "Sigmoid",
           "Sequential", "Adam", "SGD", "Parameters", "reference", "fit", "load", "evaluate",
           "iwae_nll", "kl_per_dimension", "active_units", "VAETransformer"]


def __getattr__(name):
    """``npvae.VAETransformer``, imported when first used: it imports scikit-learn, which takes
    a second or two that ``import npvae`` need not pay."""
    if name == "VAETransformer":
        from .estimator import VAETransformer
        return VAETransformer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
