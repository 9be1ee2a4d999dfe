"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising"), by hand.

The VAE's loss per example is the ELBO's plus gamma times the discriminator's estimate of the
total correlation,
    loss_i = rec_i + beta KL(q(z | x_i) || p(z)) + gamma t(z_i)          (beta = 1: the paper)
where t is the logit of a discriminator (``npvae.models.discriminator``) trained, in turn, to tell
the batch's codes z from the same codes with each column shuffled on its own. The gradient of the
gamma term flows through the discriminator into z:
    dloss/dz_i = gamma / N * dt/dz (z_i)          (the discriminator's backward, its weights fixed)
and from z into mu and logvar as the reconstruction's does. The discriminator's weights get no
gradient from this loss; they have their own loss, optimizer and step:

    Per batch (``npvae.training.parallel.CoupledParallel``, the engine ``fit`` uses for this model):
      1. the VAE's gradient, with the discriminator as it is                        (Algorithm 1)
      2. ``batch_step(z)``: one Adam step (betas (0.5, 0.9), the paper's; lr
         ``discriminator_lr``) of the discriminator on the binary cross-entropy of z (label 1)
         and permute_dims(z) (label 0)
      3. the VAE's Adam step (``fit``)
The paper draws a second batch for the permuted codes; here they are the same batch's z (it saves
an encoder pass; each column is still shuffled apart, so they are still samples of the product of
the marginals).

The paper's discriminator has 6 hidden layers of 1000 units; the default here, 2 of 256, keeps a
step within twice a plain VAE's on a CPU (README, Performance). The paper's discriminator learning
rate, 1e-4, is not the default here: with 2 x 256 units and the few thousand steps of a CPU run
it learns too slowly, the encoder fools it (its accuracy falls below chance) and the total
correlation ends no lower than with gamma 0; at lr 1e-3 it keeps up (README, Disentangling).

Watch the adversary: each epoch's record in the history has the discriminator's mean
cross-entropy (``discriminator_loss``; log 2 = 0.693 is a coin), its accuracy on the batch's
real and permuted codes (``discriminator_accuracy``; 0.5 is a coin) and its estimate of the total
correlation, the mean of t(z) over the batch's codes (``tc_estimate``, nats), each averaged over
the epoch's batches. Shapes: N batch, K latent.
"""

from numbers import Real

import numpy as np

from ..nn.losses import kl_normal
from ..nn.optim import Adam
from ..utils.validation import check_weight
from .coupled import CoupledVAE, Penalty
from .discriminator import Discriminator, permute_dims

DISCRIMINATOR_LR = 1e-3
DISCRIMINATOR_BETAS = (0.5, 0.9)


class FactorVAE(CoupledVAE):
    """A VAE trained on mean_i (rec_i + beta KL_i + gamma t(z_i)), with its discriminator.

    Args (beyond ``npvae.VAE``'s, which it takes too):
        gamma: the weight of the total correlation estimate (reimplementations use 6.4 to 40).
        beta: the weight of the KL (1 in the paper).
        discriminator_hidden: the discriminator's hidden sizes (LeakyReLU 0.2 after each).
        discriminator_lr: the learning rate of the discriminator's Adam (the paper's 1e-4 is too
            slow for a CPU's budget of steps: see the module docstring).
    Attributes: ``discriminator`` (its own parameter vector) and ``discriminator_optimizer``
    (Adam, betas (0.5, 0.9)); ``discriminator_loss``, the loss of the last step.
    """

    kind = "factorvae"

    def __init__(self, input_dim, hidden_dims=(400, 400), latent_dim=20, gamma=10.0, beta=1.0,
                 discriminator_hidden=(256, 256), discriminator_lr=DISCRIMINATOR_LR,
                 dtype=np.float32, random_state=None, **options):
        self.gamma = check_weight("gamma", gamma)
        if isinstance(discriminator_lr, bool) or not isinstance(discriminator_lr, Real) \
                or not (np.isfinite(discriminator_lr) and discriminator_lr > 0):
            raise ValueError(f"discriminator_lr must be a finite number > 0; got "
                             f"{discriminator_lr!r}")
        super().__init__(input_dim, hidden_dims, latent_dim, beta=beta, dtype=dtype,
                         random_state=random_state, **options)
        self.discriminator = Discriminator(latent_dim, discriminator_hidden,
                                           random_state=self.rng, dtype=self.dtype)
        self.discriminator_optimizer = Adam(self.discriminator.params, lr=discriminator_lr,
                                            betas=DISCRIMINATOR_BETAS)
        self.discriminator_loss = float("nan")
        self._epoch_sums = np.zeros(4)  # loss, accuracy, tc estimate, batches: epoch_record

    def own_config(self):
        return {"gamma": self.gamma,
                "discriminator_hidden": list(self.discriminator.hidden_dims),
                "discriminator_lr": self.discriminator_optimizer.lr}

    def penalty(self, encoded, beta=None, rows=None):
        """R_i = beta KL_i + gamma t(z_i) and the gradient of its batch mean (for all rows)."""
        beta = self.beta if beta is None else beta
        n = len(encoded.z)
        kl, dmu, dlogvar = kl_normal(encoded.mu, encoded.logvar)  # (N,), (N, K), (N, K)
        t = self.discriminator.forward(encoded.z)  # (N,)
        dz = self.discriminator.backward(np.full(n, self.gamma / n, dtype=self.dtype))
        dmu *= beta / n
        dlogvar *= beta / n
        return Penalty(beta * kl + self.gamma * t, kl, dz, dmu, dlogvar)

    def batch_step(self, z):
        """One Adam step of the discriminator on z (label 1) and permute_dims(z) (label 0), its
        loss, accuracy and TC estimate (the mean of t(z), the logits the VAE's gradient used)
        added to the epoch's sums."""
        self.discriminator_loss, t = self.discriminator.loss_and_grads(z,
                                                                       permute_dims(z, self.rng))
        self.discriminator_optimizer.step()
        n = len(z)
        correct = np.count_nonzero(t[:n] > 0) + np.count_nonzero(t[n:] < 0)
        self._epoch_sums += [self.discriminator_loss, correct / (2 * n), float(t[:n].mean()), 1]

    def epoch_record(self):
        """The epoch's means of the discriminator's loss, accuracy and TC estimate, for the
        history (``fit`` calls this after each epoch), and the sums set back to 0."""
        loss, accuracy, tc, batches = self._epoch_sums / self._epoch_sums[3] \
            if self._epoch_sums[3] else np.full(4, np.nan)  # (no batch: nothing to report)
        self._epoch_sums[:] = 0
        return {"discriminator_loss": float(loss), "discriminator_accuracy": float(accuracy),
                "tc_estimate": float(tc)}

    def state_arrays(self):
        state = {f"discriminator.{k}": np.asarray(v)
                 for k, v in self.discriminator_optimizer.state_dict().items()}
        state["discriminator.params"] = self.discriminator.params.vector
        return state

    def load_state_arrays(self, arrays):
        expected = self.state_arrays()
        if set(arrays) != set(expected) or any(np.shape(arrays[k]) != np.shape(v)
                                               for k, v in expected.items()):
            raise ValueError("its discriminator's arrays do not match the model's: "
                             f"{sorted(arrays)} for {sorted(expected)}")
        self.discriminator.params.vector[...] = arrays["discriminator.params"]
        self.discriminator_optimizer.load_state_dict(
            {k.split(".", 1)[1]: v for k, v in arrays.items() if k != "discriminator.params"})
