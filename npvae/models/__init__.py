"""The models: the VAE, the batch-coupled losses, beta-TCVAE, FactorVAE and its
discriminator, and the registry that builds a saved model from its config."""

from .factorvae import FactorVAE
from .registry import load, load_model, model_from_config
from .tcvae import TCVAE
from .vae import VAE, LossParts, reparameterize, reparameterize_backward

__all__ = ["VAE", "TCVAE", "FactorVAE", "LossParts", "reparameterize",
           "reparameterize_backward", "load", "load_model", "model_from_config"]
