"""VAEs whose loss couples the rows of a batch, and the engine that trains them on two cores.

A VAE's loss is a sum over examples, so each core can take a share of the rows and the shares'
gradients add up (``npvae.training.parallel``). beta-TCVAE's is not: its estimate of the aggregate
posterior q(z) compares every z_i with every posterior q(z | x_j) of the batch. FactorVAE's loss
is a sum over examples again, but its discriminator must see the whole batch's codes for its own
training step. So these models split the pass in three stages:

    1. encode     per row:     mu, logvar, z = mu + exp(logvar / 2) * eps              (shares)
    2. penalty    whole batch: the latent part of each row's loss, R_i(z, mu, logvar),  (one
                               and the gradient of mean_i R_i for z, mu and logvar       thread)
    3. decode     per row:     the reconstruction and its gradient dz; then
       and back                dmu = dz + dR/dz + dR/dmu, dlogvar = (dz + dR/dz) * eps * std / 2
                               + dR/dlogvar, through the heads and the encoder            (shares)

The loss of a row is ``rec_i + R_i``. ``CoupledVAE.forward_backward`` runs the three stages on
the whole batch; ``CoupledParallel``, the training engine ``npvae.fit`` picks for a model with
``couples_rows = True``, runs stages 1 and 3 in two shares of rows on twins of the model, as
``DataParallel`` does, and stage 2 on the whole batch in between. Each twin keeps its layers'
inputs from stage 1 to stage 3. A plain ``VAE`` with free bits couples its rows too (each
dimension's KL is floored in the batch mean): ``FreeBits`` is its stage 2. A model that says
``penalty_by_rows = True`` (beta-TCVAE) can
also compute stage 2 for a block of rows i (its sums over the other rows j still run over the
whole batch); the engine then gives each thread a block and adds their gradients.

Shapes: x (N, D), eps, mu, logvar, z (N, K).
"""

from typing import NamedTuple

import numpy as np

from ..nn.losses import kl_free_bits
from ..nn.params import Parameters
from .vae import LOGVAR_MAX, VAE, LossParts, reparameterize, reparameterize_backward


class Encoded(NamedTuple):
    """Stage 1's result for N rows: mu, logvar (capped), logvar_raw (before the cap), z."""
    mu: np.ndarray
    logvar: np.ndarray
    logvar_raw: np.ndarray
    z: np.ndarray


class Penalty(NamedTuple):
    """Stage 2's result for a block of rows: the latent part of the loss of each of its rows
    (``value``) and their analytic KL(q(z | x) || p(z)) (``kl``, for the negative ELBO in the
    history), and the gradient of the batch-mean penalty: ``dz`` for the block's rows, ``dmu`` and
    ``dlogvar`` for every row of the batch (the block's share of them)."""
    value: np.ndarray
    kl: np.ndarray
    dz: np.ndarray
    dmu: np.ndarray
    dlogvar: np.ndarray


def encode(vae, x, eps, y=None):
    """Stage 1 on a VAE (a model or a twin): x (N, D), eps (N, K) -> ``Encoded``."""
    mu, logvar, logvar_raw = vae._encode(x, y)
    return Encoded(mu, logvar, logvar_raw, reparameterize(mu, logvar, eps))


def decode_backward(vae, x, eps, y, encoded, dz, dmu, dlogvar, n):
    """Stage 3 on a VAE: the reconstruction ``rec`` (N,) of the rows ``encode`` saw last, and the
    gradient of ``sum(rec) / n`` plus the penalty's gradients (dz, dmu, dlogvar: (N, K)) in
    ``vae.params.grad``. ``n``: the size of the whole batch."""
    rec = vae.nll.forward(vae._decode(encoded.z, y), x)  # (N,)
    dout = vae.nll.backward(1 / n)
    dz = vae.decoder.backward(dout)[:, :vae.latent_dim] + dz  # the label's column has no gradient
    dmu_total, dlogvar_total = reparameterize_backward(dz, encoded.logvar, eps)
    dmu_total += dmu
    dlogvar_total += dlogvar
    dlogvar_total *= encoded.logvar_raw < LOGVAR_MAX  # the cap lets no gradient through
    dh = vae.mu_head.backward(dmu_total)
    dh_logvar = vae.logvar_head.backward(dlogvar_total)
    if vae.hidden_dims:
        dh += dh_logvar
        vae.encoder.backward(dh)
    return rec


class CoupledVAE(VAE):
    """A VAE whose loss per row is ``rec_i + R_i``, the penalty R computed on the whole batch
    (``penalty``). Subclasses: ``npvae.TCVAE``, ``npvae.FactorVAE``.

    ``config()`` adds the subclass's own arguments and ``"model": kind`` to the VAE's, so that a
    checkpoint can say which class to rebuild (``npvae.models.registry.load_model``).
    """

    kind = None  # "tcvae" or "factorvae": the name in config() and on the command line
    couples_rows = True  # fit trains it with CoupledParallel
    penalty_by_rows = False  # penalty(..., rows) may be called on blocks of rows

    def penalty(self, encoded, beta=None, rows=None):
        """Stage 2 for the rows ``rows`` (a slice; None: all) of the batch: a ``Penalty``.
        ``beta`` overrides ``self.beta`` (KL warm-up)."""
        raise NotImplementedError

    def batch_step(self, z):
        """Called by the training engine once per batch, after the gradient: FactorVAE trains its
        discriminator here. ``z`` (N, K): the batch's codes."""

    def own_config(self):
        """The subclass's own constructor arguments."""
        return {}

    def config(self):
        return {"model": self.kind, **VAE.config(self), **self.own_config()}

    def twin(self, share_grad=False):
        """A plain VAE on this model's parameters (see ``VAE.twin``): the engine's twins run
        stages 1 and 3 only, which are a VAE's."""
        twin = VAE(**VAE.config(self), random_state=0)
        twin.params = Parameters(twin._named_layers(), self.dtype, self.params.vector,
                                 self.params.grad if share_grad else None)
        return twin

    def __reduce__(self):
        return _rebuild, (type(self), self.config(), self.params.vector, self.rng,
                          self.state_arrays())

    def state_arrays(self):
        """Arrays beyond the parameter vector that a checkpoint must keep (FactorVAE: its
        discriminator and the discriminator's Adam): dict name -> array."""
        return {}

    def load_state_arrays(self, arrays):
        """Restore what ``state_arrays`` gave; ValueError if something is missing or does not
        fit."""
        if arrays:
            raise ValueError(f"unexpected arrays {sorted(arrays)}")

    def loss_parts(self, rec, penalty, n=None):
        return loss_parts(rec, penalty, n)

    def forward_backward(self, x, eps, beta=None, y=None):
        """The three stages on the whole batch in this thread; fills ``self.params.grad`` with the
        gradient of the batch mean and returns its ``LossParts`` (``x``, ``eps`` and ``y``
        already checked, as for ``VAE.forward_backward``)."""
        encoded = encode(self, x, eps, y)
        penalty = self.penalty(encoded, beta)
        rec = decode_backward(self, x, eps, y, encoded, penalty.dz, penalty.dmu, penalty.dlogvar,
                              len(x))
        return self.loss_parts(rec, penalty)

    def loss(self, x, eps=None, y=None, random_state=0):
        """The batch's loss mean(rec + R) and its parts, as ``LossParts``; no gradient is kept.
        ``eps=None``: noise from ``random_state`` (default 0; None: the model's Generator)."""
        x = self.check_input(x)
        eps = self._eval_eps(eps, self.eps_shape(len(x)), random_state)
        y = self.check_labels(y, len(x))
        encoded = encode(self, x, eps, y)
        rec = self.nll.forward(self._decode(encoded.z, y), x)
        return self.loss_parts(rec, self.penalty(encoded))


def loss_parts(rec, penalty, n=None):
    """LossParts of a batch from the reconstructions (N,) and the penalties (a Penalty, or a
    list of the blocks' Penalties): total = mean(rec + R), reconstruction, kl."""
    blocks = penalty if isinstance(penalty, list) else [penalty]
    n = len(rec) if n is None else n
    value = sum(float(p.value.sum()) for p in blocks) / n
    kl = sum(float(p.kl.sum()) for p in blocks) / n
    reconstruction = float(rec.sum()) / n
    return LossParts(reconstruction + value, reconstruction, kl)


class FreeBits:
    """Stage 2 for a plain ``VAE`` with ``free_bits``: R_i = beta * sum_k (KL_ik, or lambda where
    dimension k's batch-mean KL is below lambda), ``npvae.nn.losses.kl_free_bits``."""

    penalty_by_rows = False

    def __init__(self, model):
        self.model = model

    def penalty(self, encoded, beta=None, rows=None):
        beta = self.model.beta if beta is None else beta
        n = len(encoded.z)
        kl, objective, dmu, dlogvar = kl_free_bits(encoded.mu, encoded.logvar,
                                                   self.model.free_bits)
        return Penalty(beta * objective, kl, np.zeros_like(encoded.z), dmu * (beta / n),
                       dlogvar * (beta / n))

    def batch_step(self, z):
        pass

    loss_parts = staticmethod(loss_parts)


def _rebuild(cls, config, vector, rng, arrays):
    """The model that ``CoupledVAE.__reduce__`` describes."""
    config = dict(config)
    config.pop("model")
    model = cls(**config, random_state=0)
    model.params.vector[...] = vector
    model.rng = rng
    model.load_state_arrays(arrays)
    return model


