"""The reference engine, ``fit(..., engine="reference")``: ``npvae.reference``'s plain
functions and Adam on a model, one thread, fresh arrays."""

import contextlib

import numpy as np

from .. import reference, reference_iwae
from ..models.vae import LossParts
from ..nn.optim import check_adam_arguments, check_state


class ReferenceAdam:
    """Adam as ``npvae.reference.adam_step`` writes it, on a model's parameters: the optimizer
    of ``fit(..., engine="reference")``. Plain and slow: fresh arrays, one thread.

    Each step hands the named parameters and gradients to ``reference.adam_step`` and copies the
    new values into the model's parameters. The state holds the textbook moments m and v.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        check_adam_arguments(lr, betas, eps)
        self.params = params
        self.lr, self.betas, self.eps = float(lr), tuple(map(float, betas)), float(eps)
        zeros = self._unflatten(np.zeros_like(params.vector))
        self.state = {"t": 0, "m": zeros, "v": zeros}  # reference.adam_step's state

    @property
    def t(self):
        return self.state["t"]

    def step(self):
        new, self.state = reference.adam_step(self.params.values, self.params.grads, self.state,
                                              self.lr, self.betas, self.eps)
        for name, value in new.items():
            self.params.values[name][...] = value

    def state_dict(self):
        """t, and m and v as flat vectors in the layout of ``params.vector``."""
        flat = lambda arrays: np.concatenate([arrays[name].ravel()  # noqa: E731
                                              for name in self.params.names])
        return {"t": self.t, "m": flat(self.state["m"]), "v": flat(self.state["v"])}

    def load_state_dict(self, state):
        self.state = {"t": check_state(state, nonnegative=("v",)),
                      "m": self._unflatten(state["m"]), "v": self._unflatten(state["v"])}

    def _unflatten(self, vector):
        """A flat (P,) vector -> dict name -> a copy of its piece, in the parameter's shape."""
        values = self.params.values
        ends = np.cumsum([values[name].size for name in self.params.names])
        pieces = np.split(np.asarray(vector), ends[:-1])
        return {name: piece.reshape(values[name].shape).copy()
                for name, piece in zip(self.params.names, pieces)}


class ReferencePass:
    """``forward_backward`` by ``npvae.reference``: plain functions, fresh arrays, one thread.

    The engine ``fit(..., engine="reference")`` uses, to step through in a debugger: it hands the
    model's named parameters to ``reference.forward`` and ``reference.backward`` and copies the
    gradients into ``model.params.grad`` (with a Monte Carlo KL: ``reference_iwae.forward`` and
    ``reference_iwae.backward``). Only the model reference.py writes out: Bernoulli likelihood,
    ReLU, no labels.
    """

    def __init__(self, model):
        if model.likelihood != "bernoulli" or model.activation != "relu" or model.n_classes:
            raise ValueError("the reference engine trains the VAE of npvae/reference.py: Bernoulli "
                             f"likelihood, ReLU, no labels; got likelihood={model.likelihood!r}, "
                             f"activation={model.activation!r}, n_classes={model.n_classes}")
        self.model = model

    def blas_per_thread(self):
        return contextlib.nullcontext()

    def forward_backward(self, x, eps, beta=None, y=None):
        beta = self.model.beta if beta is None else beta
        params = self.model.params.values
        if self.model.monte_carlo:  # eps (k, N, K): the bound of npvae/reference_iwae.py
            cache = reference_iwae.forward(params, x, eps, beta)
            grads = reference_iwae.backward(params, cache, self.model.gradient)
            for name, grad in grads.items():
                self.model.params.grads[name][...] = grad
            mu, logvar = cache["mu"], cache["logvar"]
            kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar, axis=1)  # reported, as the
            return LossParts(-float(cache["bound"].mean()), -float(cache["log_px"].mean()),
                             float(kl.mean()))  # fast engine reports it
        cache = reference.forward(params, x, eps)
        for name, grad in reference.backward(params, cache, beta).items():
            self.model.params.grads[name][...] = grad
        rec, kl = float(cache["rec"].mean()), float(cache["kl"].mean())
        return LossParts(rec + beta * kl, rec, kl)
