"""The building blocks: the flat parameter vector, layers with hand-written backward passes,
the likelihoods and the KL, the optimizers, and the checkpoint file format.

Each name below is imported from its module when first used, so that importing one module of
this package (``npvae.nn.layers``) does not import the others."""

import importlib

_HOMES = {"Parameters": "params", "Dense": "layers", "ReLU": "layers", "Tanh": "layers",
          "Sigmoid": "layers", "Sequential": "layers", "BernoulliNLL": "losses",
          "GaussianNLL": "losses", "kl_normal": "losses", "kl_free_bits": "losses",
          "Adam": "optim", "SGD": "optim", "CheckpointError": "checkpoint",
          "save_checkpoint": "checkpoint", "save_model": "checkpoint",
          "read_checkpoint": "checkpoint", "restore": "checkpoint"}

__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
