"""The posterior q(z | x) = N(mu, diag(exp(logvar))): the reparameterization and its backward,
the cap on logvar, and the ELBO at posterior parameters given rather than the encoder's.

The ELBO of one image x at any q (not only the encoder's), with one noise draw eps:

    elbo(mu, logvar) = log p(x | z) - KL(q || p),     z = mu + exp(logvar / 2) * eps

and its gradient, by the chain rule through the decoder (whose weights stay as they are):

    dz          = -d rec / dz                      the decoder's input gradient
    d elbo/dmu     = dz - mu
    d elbo/dlogvar = dz * eps * exp(logvar / 2) / 2 - (exp(logvar) - 1) / 2

Maximising it over (mu, logvar) for one image finds the best q the decoder allows; the gap to
the encoder's q is the amortisation gap, and its size is Likelihood Regret
(``npvae.evaluation.regret``).
"""

import numpy as np

from ..nn.losses import kl_normal

# The log-variance is capped here before use. exp(30) ~ 1e13 is far beyond any healthy posterior
# variance and far below float32's overflow (exp(88.7)), so exp(logvar) and exp(logvar / 2) stay
# finite whatever the encoder outputs; above the cap the gradient is 0, as for any clip.
LOGVAR_MAX = 30.0


def reparameterize(mu, logvar, eps):
    """``z = mu + exp(logvar / 2) * eps``: a sample of N(mu, diag(exp(logvar))) for eps ~ N(0, I).

    The standard deviation is ``exp(logvar / 2)``, so the variance of z is ``exp(logvar)``.
    Shapes: mu, logvar, eps, z (N, K).
    """
    return mu + np.exp(logvar / 2) * eps


def reparameterize_backward(dz, logvar, eps):
    """Gradients through ``z = mu + exp(logvar / 2) * eps`` given dz = dL/dz.

        dL/dmu     = dz
        dL/dlogvar = dz * eps * exp(logvar / 2) / 2
    Shapes: dz, logvar, eps (N, K) -> dmu (N, K), dlogvar (N, K).
    """
    return dz.copy(), dz * eps * np.exp(logvar / 2) / 2


def elbo_at(model, x, mu, logvar, eps, y=None):
    """Each image's ELBO under ``model``'s decoder at q = N(mu, exp(logvar)), and its gradient.

    Shapes: x (N, D), mu, logvar, eps (N, K), y (N,) labels of a conditional model ->
    elbo (N,), dmu (N, K), dlogvar (N, K), where row n holds d elbo_n / d(mu_n, logvar_n) (each
    image's ELBO depends on its own row alone). logvar is capped at ``LOGVAR_MAX`` as the
    encoder's is, with no gradient above the cap. The model's parameters and gradients are
    untouched: only the decoder's input gradient is computed.
    """
    x = model.check_input(x)
    y = model.check_labels(y, len(x))
    mu, logvar, eps = (_posterior_array(model, name, a, len(x)) for name, a in
                       (("mu", mu), ("logvar", logvar), ("eps", eps)))
    capped = np.minimum(logvar, LOGVAR_MAX)
    z = reparameterize(mu, capped, eps)  # (N, K)
    rec = model.nll.forward(model._decode(z, y), x)  # (N,): -log p(x | z)
    kl, dmu_kl, dlogvar_kl = kl_normal(mu, capped)  # (N,), (N, K), (N, K)
    dout = model.nll.backward_input(1.0)  # (N, D): row n is d rec_n / d out_n
    dz = model.decoder.backward_input(dout)[:, :model.latent_dim]  # the label gets none
    dmu, dlogvar = reparameterize_backward(dz, capped, eps)
    dmu += dmu_kl
    dlogvar += dlogvar_kl
    dlogvar *= logvar < LOGVAR_MAX
    return -(rec + kl), -dmu, -dlogvar  # the ELBO: minus the loss


def _posterior_array(model, name, a, n):
    """mu, logvar or eps as the model's float arrays of shape (n, K), or ValueError."""
    a = np.asarray(a)
    if a.shape != (n, model.latent_dim):
        raise ValueError(f"{name} must have shape ({n}, {model.latent_dim}); got {a.shape}")
    if a.dtype.kind not in "fiu" or not np.isfinite(a).all():
        raise ValueError(f"{name} must hold finite numbers")
    return np.ascontiguousarray(a, dtype=model.dtype)
