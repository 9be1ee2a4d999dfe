"""The building blocks: the flat parameter vector, layers with hand-written backward passes,
the likelihoods and the KL, the optimizers, and the checkpoint file format.

Each name below is imported from its module when first used, so that importing one module of
this package (``npvae.nn.layers``) does not import the others."""

from ..utils.lazy import lazy_names

_HOMES = {"Parameters": "params", "Dense": "layers", "ReLU": "layers", "Tanh": "layers",
          "Sigmoid": "layers", "Sequential": "layers", "BernoulliNLL": "losses",
          "GaussianNLL": "losses", "kl_normal": "losses", "kl_free_bits": "losses",
          "Adam": "optim", "SGD": "optim", "CheckpointError": "checkpoint",
          "save_checkpoint": "checkpoint", "save_model": "checkpoint",
          "read_checkpoint": "checkpoint", "restore": "checkpoint"}

__all__ = list(_HOMES)

__getattr__, __dir__ = lazy_names(__name__, _HOMES)
