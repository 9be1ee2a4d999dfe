"""The building blocks: the flat parameter vector, layers with hand-written backward passes,
the likelihoods and the KL, the optimizers, and the checkpoint file format."""

from .checkpoint import CheckpointError, read_checkpoint, restore, save_checkpoint, save_model
from .layers import Dense, ReLU, Sequential, Sigmoid, Tanh
from .losses import BernoulliNLL, GaussianNLL, kl_free_bits, kl_normal
from .optim import SGD, Adam
from .params import Parameters

__all__ = ["Parameters", "Dense", "ReLU", "Tanh", "Sigmoid", "Sequential", "BernoulliNLL",
           "GaussianNLL", "kl_normal", "kl_free_bits", "Adam", "SGD", "CheckpointError",
           "save_checkpoint", "save_model", "read_checkpoint", "restore"]
