"""Models from their saved config: ``npvae.load`` reads a checkpoint or model file
and builds the VAE, TCVAE or FactorVAE it names."""

import numpy as np

from ..nn.checkpoint import CheckpointError, read_checkpoint, restore
from .factorvae import FactorVAE
from .tcvae import TCVAE
from .vae import VAE


def model_from_config(config):
    """A new model of the class ``config["model"]`` names (a VAE if it names none), built from
    the rest of the config."""
    config = dict(config)
    kind = config.pop("model", None)
    classes = {None: VAE, "tcvae": TCVAE, "factorvae": FactorVAE}
    if kind not in classes:
        raise ValueError(f"unknown model {kind!r}")
    if kind == "factorvae":  # files from before the option trained at the paper's 1e-4
        config.setdefault("discriminator_lr", 1e-4)
    return classes[kind](**config)


def load_model(path):
    """A new model (VAE, TCVAE or FactorVAE) with the architecture, parameters and Generator of
    a checkpoint or model file; (model, meta)."""
    meta, _, _ = read_checkpoint(path)
    try:
        model = model_from_config(meta["model"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: bad model configuration ({error})") from None
    meta = restore(model, None, path)
    check_usable(model, path)
    return model, meta


def check_usable(model, path):
    """CheckpointError unless the model gives a finite loss on a grey image: parameters that
    are finite but huge (1e38) overflow in the first layer and give NaN everywhere."""
    x = np.full((1, model.input_dim), 0.5, dtype=model.dtype)
    y = np.zeros(1, dtype=np.int64) if model.n_classes else None
    with np.errstate(all="ignore"):
        rec, kl = model.per_example_loss(x, y=y)
    if not (np.isfinite(rec).all() and np.isfinite(kl).all()):
        raise CheckpointError(f"{path}: its model gives a loss of {float(rec[0] + kl[0])} on a "
                              "grey image: its parameters are finite but unusable (damaged, or "
                              "saved from a model about to diverge)")


def load(path):
    """The model saved at ``path`` (by ``model.save``, or a training checkpoint): a VAE, TCVAE
    or FactorVAE with its parameters and Generator. CheckpointError if it cannot be read."""
    return load_model(path)[0]
