"""FactorVAE's discriminator: an MLP on z with LeakyReLU, giving one logit t(z).

Trained to tell codes z ~ q(z) (label 1) from codes whose columns were shuffled apart, which are
samples of prod_d q(z_d) (label 0), the logit of the optimal discriminator is
    t(z) = log D(z) / (1 - D(z)) = log q(z) / prod_d q(z_d),
so its mean over a batch estimates the total correlation KL(q(z) || prod_d q(z_d)) (Kim & Mnih
2018, eq. 3). Shape letters: N batch, K latent, H hidden.
"""

import numpy as np

from ..nn.layers import Dense, Layer, Sequential
from ..nn.params import Parameters
from ..utils.memory import check_fits_in_memory
from ..utils.validation import check_positive_int, check_random_state


class LeakyReLU(Layer):
    """``y = x`` where x > 0, ``slope * x`` elsewhere; backward ``dx = dy * (1 if x > 0 else
    slope)``. Kim & Mnih use slope 0.2. Shapes: x, y (N, H)."""

    def __init__(self, slope=0.2):
        super().__init__()
        self.slope = float(slope)
        self._scale = None

    def forward(self, x):
        self._scale = np.where(x > 0, x.dtype.type(1), x.dtype.type(self.slope))  # dy/dx
        return x * self._scale

    def backward(self, dy):
        return dy * self._saved(self._scale)


def permute_dims(z, random_state=None):
    """Each column of z shuffled on its own (Kim & Mnih, Algorithm 1): the rows become samples of
    prod_d q(z_d), the product of the marginals. Shapes: z (N, K) -> (N, K)."""
    rng = check_random_state(random_state)
    order = rng.permuted(np.broadcast_to(np.arange(len(z))[:, None], z.shape), axis=0)
    return np.take_along_axis(z, order, axis=0)


class Discriminator:
    """t(z) = Dense(H_last, 1)(... LeakyReLU(Dense(K, H_1)(z)) ...), its own parameter vector.

    Its loss is the binary cross-entropy from logits, label 1 for z and 0 for permuted codes,
    averaged over the 2N codes:
        loss = 1/(2N) [sum_i softplus(-t(z_i)) + sum_i softplus(t(z~_i))]
        dloss/dt(z_i) = (sigmoid(t) - 1) / (2N),   dloss/dt(z~_i) = sigmoid(t) / (2N)
    Shapes: z (N, K) -> t (N,).
    """

    def __init__(self, latent_dim, hidden_dims=(256, 256), slope=0.2, random_state=None,
                 dtype=np.float64):
        rng = check_random_state(random_state)
        if isinstance(hidden_dims, (str, bytes)) or not hasattr(hidden_dims, "__iter__"):
            raise ValueError(f"discriminator_hidden must be a list of layer sizes; got "
                             f"{hidden_dims!r}")
        sizes = (check_positive_int("latent_dim", latent_dim),
                 *(check_positive_int("discriminator hidden size", h) for h in hidden_dims), 1)
        check_fits_in_memory(list(zip(sizes[:-1], sizes[1:])), dtype)
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Dense(n_in, n_out, rng, dtype))
            if i < len(sizes) - 2:
                layers.append(LeakyReLU(slope))
        self.net = Sequential(layers)
        self.hidden_dims = tuple(sizes[1:-1])
        self.params = Parameters(self.net.named_layers("discriminator"), dtype)

    def dense_layers(self):
        return [layer for layer in self.net.layers if isinstance(layer, Dense)]

    def forward(self, z):
        """t(z): (N, K) -> (N,)."""
        return self.net.forward(z)[:, 0]

    def backward(self, dt):
        """dt (N,) = dLoss/dt -> dLoss/dz (N, K); writes the weights' gradients into
        ``params.grad``."""
        return self.net.backward(np.asarray(dt)[:, None])

    def loss_and_grads(self, z, z_permuted):
        """The binary cross-entropy of ``z`` (label 1) and ``z_permuted`` (label 0), a float,
        and the logits it came from, t (2N,): t[:N] of z, t[N:] of the permuted codes. The
        loss's gradient for the weights goes into ``params.grad``.
        Shapes: z, z_permuted (N, K) -> (float, (2N,))."""
        n = len(z)
        t = self.forward(np.concatenate([z, z_permuted]))  # (2N,)
        label = np.concatenate([np.ones(n, t.dtype), np.zeros(n, t.dtype)])
        loss = float(np.mean(np.logaddexp(0, t) - label * t))  # softplus(t) - y t
        sigmoid = np.exp(-np.logaddexp(0, -t))
        self.backward((sigmoid - label) / (2 * n))
        return loss, t
