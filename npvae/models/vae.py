"""The variational autoencoder (Kingma & Welling 2014), forward and backward by hand.

Model: a prior p(z) = N(0, I) over K latent variables, a decoder p(x | z) (Bernoulli with logits,
or Gaussian with a fixed or learned standard deviation) and an encoder
q(z | x) = N(mu(x), diag(exp(logvar(x)))).
Training minimises the negative evidence lower bound (ELBO), per example in nats:

    loss(x) = -E_q[log p(x | z)] + beta * KL(q(z | x) || p(z))         (beta = 1: the ELBO)

The expectation is estimated with one sample through the reparameterization
``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``. The noise ``eps`` is an argument: with
it fixed, the loss is a deterministic function of the parameters, and its gradient can be checked
against finite differences. The KL is in closed form (Kingma & Welling 2014, appendix B), see
``npvae.nn.losses.kl_normal``.

Backward pass (the chain rule, from the loss back to the data):
    d rec / d out         from the likelihood (``sigmoid(logits) - x`` for Bernoulli)
    dz                    decoder backward
    dmu     = dz + beta * mu                                   (through z, plus the KL)
    dlogvar = dz * eps * exp(logvar / 2) / 2 + beta * (exp(logvar) - 1) / 2
    dh      = mu_head backward(dmu) + logvar_head backward(dlogvar)
    encoder backward(dh)
All of it divided by N, because the loss is a mean over the batch.

Shapes: x (N, D), h (N, H), mu, logvar, eps, z (N, K), logits (N, D).
"""

import numbers
from typing import NamedTuple

import numpy as np

from ..nn.checkpoint import save_model
from ..nn.layers import ACTIVATIONS as LAYER_ACTIVATIONS
from ..nn.layers import Dense, mlp, sigmoid
from ..nn.losses import (LEARNED_STD, LOG_STD_SCALE, BernoulliNLL, GaussianNLL, check_gaussian_std,
                         kl_free_bits, kl_normal)
from ..nn.params import Parameters
from ..utils.memory import check_fits_in_memory, check_rows_fit
from ..utils.validation import (check_dtype, check_nonnegative, check_positive_int,
                                check_random_state, check_weight)
from . import importance
from .importance import check_objective
from .posterior import LOGVAR_MAX, elbo_at, reparameterize, reparameterize_backward

LIKELIHOODS = ("bernoulli", "gaussian")
MAX_FREE_BITS = 1_000
MAX_LOG_STD_SCALE = 1_000_000
ACTIVATIONS = tuple(LAYER_ACTIVATIONS)

class LossParts(NamedTuple):
    """Mean over the batch, in nats: ``total = reconstruction + beta * kl`` for the ELBO; with a
    Monte Carlo KL, total is minus the bound trained on (``VAE.loss``)."""
    total: float
    reconstruction: float
    kl: float


def dense_sizes(n_in, hidden_dims, latent_dim, n_labels, n_out, decoder_dims):
    """(inputs, outputs) of every dense layer: the encoder, the two heads, the decoder."""
    encoder = (n_in, *hidden_dims)
    decoder = (latent_dim + n_labels, *decoder_dims, n_out)
    return ([*zip(encoder[:-1], encoder[1:])] + 2 * [(encoder[-1], latent_dim)]
            + [*zip(decoder[:-1], decoder[1:])])


class VAE:
    """A variational autoencoder with dense encoder and decoder.

    Encoder: Dense + activation for each size in ``hidden_dims``, then two Dense heads giving
    ``mu`` and ``logvar`` (N, K). Decoder: Dense + activation for each size in
    ``decoder_hidden_dims`` (default: ``hidden_dims`` reversed), then a Dense giving the logits of
    a Bernoulli (``likelihood="bernoulli"``, data in [0, 1]) or the mean of a Gaussian
    (``likelihood="gaussian"``) whose standard deviation ``gaussian_std`` is fixed or learned.

    Args:
        input_dim: D, the data width (784 for MNIST).
        hidden_dims: sizes of the hidden layers of the encoder.
        latent_dim: K.
        likelihood: "bernoulli" or "gaussian".
        beta: weight of the KL term (1 gives the ELBO; beta-VAE otherwise).
        dtype: float32 (fast) or float64 (for gradient checks); every array keeps it.
        random_state: None, int or Generator; initialisation, noise and sampling draw from it.
        activation: "relu" (default) or "tanh", after every hidden layer.
        gaussian_std: the Gaussian likelihood's standard deviation: "learned" (default: one
            value for all dimensions, a parameter ``likelihood.scaled_log_std`` of shape (1,)),
            "learned-per-dim" (one per dimension, (D,)), or a fixed number (1 suits standardised
            data). See ``npvae.nn.losses.GaussianNLL``.
        n_classes: C > 0 makes a conditional VAE (Sohn et al. 2015): the one-hot label is
            appended to the encoder's input and to the decoder's input, and every method that
            sees data or draws samples takes the labels ``y``.
        decoder_hidden_dims: sizes of the decoder's hidden layers, from z to x; None (default)
            mirrors the encoder. A larger decoder than encoder makes posterior collapse easy
            to provoke (Bowman et al. 2016).
        free_bits: lambda >= 0 nats; above 0, each latent dimension's batch-mean KL counts as
            at least lambda (Kingma et al. 2016; ``npvae.nn.losses.kl_free_bits``).
        log_std_scale: a learned std's log is stored divided by this (default 10), so that Adam
            moves it this many times faster than a weight; raise it if the learned std lags
            ``npvae.evaluation.optimal_gaussian_std`` (``npvae.nn.losses.GaussianNLL``).
        objective: "elbo" (default) or "iwae", the importance-weighted bound with ``k`` draws
            per image (default 5; Burda et al. 2016); k = 1 is the ELBO with kl="monte-carlo".
        kl: "analytic" (the KL in closed form; the ELBO's default) or "monte-carlo" (at the
            draws; the IWAE bound's only choice).
        gradient: the encoder's gradient estimator: "reparam" (the objective's own, default),
            "stl" or "dreg" (these need the Monte Carlo KL; ``npvae.models.importance``).
    """

    def __init__(self, input_dim, hidden_dims=(400, 400), latent_dim=20, likelihood="bernoulli",
                 beta=1.0, dtype=np.float32, random_state=None, activation="relu",
                 gaussian_std="learned", n_classes=0, decoder_hidden_dims=None, free_bits=0.0,
                 log_std_scale=LOG_STD_SCALE, objective="elbo", k=None, kl=None,
                 gradient="reparam"):
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.hidden_dims = tuple(check_positive_int("hidden size", h) for h in hidden_dims)
        self.decoder_hidden_dims = None if decoder_hidden_dims is None else tuple(
            check_positive_int("decoder hidden size", h) for h in decoder_hidden_dims)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}; got {likelihood!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        beta = check_weight("beta", beta)
        free_bits = check_nonnegative("free_bits", free_bits)
        if free_bits > MAX_FREE_BITS:  # a floor far above any KL a dimension carries
            raise ValueError(f"free_bits must be a number of nats from 0 to {MAX_FREE_BITS:,}; "
                             f"got {free_bits!r}")
        coupled = getattr(type(self), "couples_rows", False)  # TCVAE, FactorVAE
        if free_bits and coupled:
            raise ValueError(f"free_bits is an option of npvae.VAE, not of {type(self).__name__}")
        self.objective, self.k, self.kl, self.gradient = check_objective(
            objective, k, kl, gradient, type(self).__name__ if coupled else "VAE", free_bits)
        self.monte_carlo = self.kl == "monte-carlo"  # trained by npvae.models.importance
        self.likelihood, self.activation = likelihood, activation
        self.beta, self.free_bits = float(beta), free_bits
        self.gaussian_std = check_gaussian_std(gaussian_std)
        if isinstance(log_std_scale, bool) or not isinstance(log_std_scale, numbers.Real) \
                or not 0 < log_std_scale <= MAX_LOG_STD_SCALE:
            raise ValueError(f"log_std_scale must be a number > 0 and at most "
                             f"{MAX_LOG_STD_SCALE:,}; got {log_std_scale!r}")
        self.log_std_scale = float(log_std_scale)
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
                or n_classes < 0:
            raise ValueError(f"n_classes must be an integer >= 0; got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.dtype = check_dtype(dtype)
        self.rng = check_random_state(random_state)

        D, H, K, C = self.input_dim, self.hidden_dims, self.latent_dim, self.n_classes
        H_dec = H[::-1] if self.decoder_hidden_dims is None else self.decoder_hidden_dims
        last = H[-1] if H else D + C
        check_fits_in_memory(dense_sizes(D + C, H, K, C, D, H_dec), self.dtype)
        self.encoder = mlp((D + C, *H), activation, last_activation=True, random_state=self.rng,
                           dtype=self.dtype, input_grad=False)
        self.mu_head = Dense(last, K, self.rng, self.dtype, input_grad=bool(H))
        self.logvar_head = Dense(last, K, self.rng, self.dtype, input_grad=bool(H))
        self.decoder = mlp((K + C, *H_dec, D), activation, random_state=self.rng,
                           dtype=self.dtype)
        if likelihood == "bernoulli":
            self.nll = BernoulliNLL()
        elif isinstance(self.gaussian_std, str):
            self.nll = GaussianNLL(learned=LEARNED_STD[self.gaussian_std], dim=D,
                                   dtype=self.dtype, scale=self.log_std_scale)
        else:
            self.nll = GaussianNLL(self.gaussian_std)
        self.params = Parameters(self._named_layers(), self.dtype)

    def _named_layers(self):
        """Every layer with parameters, named: the learned standard deviation, if any, last."""
        likelihood = [("likelihood", self.nll)] if self.nll.params else []
        return [*self.encoder.named_layers("encoder"), ("mu_head", self.mu_head),
                ("logvar_head", self.logvar_head), *self.decoder.named_layers("decoder"),
                *likelihood]

    def twin(self, share_grad=False):
        """A VAE that shares this one's parameters (the same memory: an update of either is an
        update of both) but has its own layers, so that the two can run ``forward_backward`` on
        different rows at the same time, in two threads. Its gradient vector is its own, or with
        ``share_grad`` this model's. The twin's own Generator is unused (``random_state=0``)."""
        twin = VAE(**self.config(), random_state=0)
        twin.params = Parameters(twin._named_layers(), self.dtype, self.params.vector,
                                 self.params.grad if share_grad else None)
        return twin

    def keep_work_arrays(self):
        """Let every layer write its results into work arrays it keeps and overwrites on its next
        call (``npvae.nn.layers``): the training engine's speed trick, for its twins only. The
        public methods of a model with work arrays still return fresh arrays, but its layers'
        results (``model.decoder.forward``, say) no longer are."""
        for layer in (self.encoder, self.mu_head, self.logvar_head, self.decoder, self.nll):
            layer.keep_work_arrays()

    def config(self):
        """The constructor arguments (but random_state), as plain Python values."""
        return {"input_dim": self.input_dim, "hidden_dims": list(self.hidden_dims),
                "latent_dim": self.latent_dim, "likelihood": self.likelihood,
                "beta": self.beta, "dtype": self.dtype.name, "activation": self.activation,
                "gaussian_std": self.gaussian_std, "n_classes": self.n_classes,
                "decoder_hidden_dims": (None if self.decoder_hidden_dims is None
                                        else list(self.decoder_hidden_dims)),
                "free_bits": self.free_bits, "log_std_scale": self.log_std_scale,
                "objective": self.objective, "k": self.k, "kl": self.kl,
                "gradient": self.gradient}

    def __reduce__(self):
        """Pickle (and deepcopy) as the config, the parameter vector and the Generator. Pickled
        layer by layer, each view of the vector would come back as an array of its own, no longer
        part of the vector that the optimizer updates."""
        return _rebuild_vae, (self.config(), self.params.vector, self.rng)

    def save(self, path):
        """Save the model alone (config, parameters, Generator) to ``path``, a .npz written
        atomically; ``npvae.load(path)`` gives it back, in any process."""
        save_model(path, self)

    def named_parameters(self):
        """Yield ``(name, array)`` in forward order; each Dense gives ``W`` then ``b``."""
        for name in self.params.names:
            yield name, self.params.values[name]

    # ---- input checks ----------------------------------------------------------------------

    def check_input(self, x):
        """Return x as a C-contiguous array of the model's dtype, or raise ValueError."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"x must be 2-D (n_samples, {self.input_dim}); got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("x must hold at least one sample; got 0 rows")
        if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
            raise ValueError(f"x must hold real numbers; got dtype {x.dtype}")
        x = np.ascontiguousarray(x, dtype=self.dtype)
        low, high = x.min(), x.max()  # NaN propagates through both, inf shows in one
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError("x must be finite; got NaN or inf")
        if self.likelihood == "bernoulli" and (low < 0 or high > 1):
            raise ValueError("x must lie in [0, 1] for the Bernoulli likelihood; "
                             f"got values in [{low:.8g}, {high:.8g}]")
        return x

    def eps_shape(self, n):
        """The training noise's shape for n images: (n, K), or (k, n, K) with a Monte Carlo KL."""
        return (self.k, n, self.latent_dim) if self.monte_carlo else (n, self.latent_dim)

    def check_eps(self, eps, n, shape=None):
        """Return eps as an array of ``shape`` (default ``eps_shape(n)``) and the model's
        dtype, or raise ValueError."""
        eps = np.asarray(eps)
        shape = self.eps_shape(n) if shape is None else shape
        if eps.shape != shape:
            names = "(n_samples, latent_dim)" if len(shape) == 2 else "(k, n_samples, latent_dim)"
            raise ValueError(f"eps must have shape {names} = {shape}; got {eps.shape}")
        eps = np.ascontiguousarray(eps, dtype=self.dtype)
        if not np.isfinite(eps).all():
            raise ValueError("eps must be finite; got NaN or inf")
        return eps

    def check_labels(self, y, n):
        """Labels for a conditional model: (n,) integers in [0, n_classes); None otherwise."""
        if not self.n_classes:
            if y is not None:
                raise ValueError("labels y were given, but the model is not conditional "
                                 "(n_classes=0)")
            return None
        if y is None:
            raise ValueError(f"a conditional model needs labels y in [0, {self.n_classes})")
        y = np.broadcast_to(np.asarray(y), (n,)) if np.ndim(y) == 0 else np.asarray(y)
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"y must hold {n} integer labels; got shape {y.shape}, "
                             f"dtype {y.dtype}")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"labels must lie in [0, {self.n_classes}); "
                             f"got [{y.min()}, {y.max()}]")
        return y

    def _condition(self, a, y):
        """Append the one-hot label: a (N, M) -> (N, M + C). Unchanged for a plain model."""
        if not self.n_classes:
            return a
        return np.hstack([a, np.eye(self.n_classes, dtype=self.dtype)[y]])

    def draw_eps(self, n):
        """Standard normal noise of ``eps_shape(n)`` from the model's Generator and dtype."""
        return self.rng.standard_normal(self.eps_shape(n), dtype=self.dtype)

    # ---- the model, piece by piece ---------------------------------------------------------

    def _encode(self, x, y=None):
        """(N, D) -> mu (N, K), capped logvar (N, K), raw logvar (N, K)."""
        h = self.encoder.forward(self._condition(x, y))  # (N, H)
        mu = self.mu_head.forward(h)
        logvar_raw = self.logvar_head.forward(h)
        return mu, np.minimum(logvar_raw, LOGVAR_MAX), logvar_raw

    def _decode(self, z, y=None):
        """z (N, K) -> the decoder's output (N, D): logits, or the Gaussian mean."""
        return self.decoder.forward(self._condition(z, y))

    def encode(self, x, y=None):
        """Posterior parameters: x (N, D) -> mu (N, K), logvar (N, K). ``y``: labels (N,) of a
        conditional model."""
        x = self.check_input(x)
        mu, logvar, _ = self._encode(x, self.check_labels(y, len(x)))
        return mu.copy(), logvar  # mu copied: the head's work array, if it keeps work arrays

    def reparameterize(self, mu, logvar, eps):
        """``z = mu + exp(logvar / 2) * eps`` (see ``npvae.models.vae.reparameterize``)."""
        return reparameterize(mu, logvar, eps)

    def decode(self, z, y=None):
        """The mean of p(x | z): z (N, K) -> (N, D); pixel probabilities for Bernoulli."""
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be 2-D (n_samples, {self.latent_dim}); got shape {z.shape}")
        z = np.ascontiguousarray(z, dtype=self.dtype)
        out = self._decode(z, self.check_labels(y, len(z)))
        return sigmoid(out) if self.likelihood == "bernoulli" else out.copy()

    def sample(self, n, random_state=None, y=None):
        """Decode n draws from the prior: (n, D). ``random_state=None`` uses the model's
        Generator; ``y``: a label (or n labels) for a conditional model."""
        n = check_positive_int("n", n)
        widest = max(self.input_dim + self.n_classes, *self.hidden_dims,
                     *(self.decoder_hidden_dims or ()))
        check_rows_fit(f"sample(n={n:,})", n, widest, self.dtype)
        rng = self.rng if random_state is None else check_random_state(random_state)
        return self.decode(rng.standard_normal((n, self.latent_dim), dtype=self.dtype), y)

    def reconstruct(self, x, y=None):
        """Decode the posterior mean: x (N, D) -> the mean of p(x | z = mu(x)), (N, D)."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    # ---- the loss and its gradient ---------------------------------------------------------

    def _eval_eps(self, eps, shape, random_state):
        """eps of ``shape`` (N first, or (k, N, K)) as given (checked), or drawn from
        ``random_state``: an evaluation is seeded."""
        n = shape[-2]
        if eps is not None:
            return self.check_eps(eps, n, shape)
        rng = self.rng if random_state is None else check_random_state(random_state)
        return rng.standard_normal(shape, dtype=self.dtype)

    def per_example_loss(self, x, eps=None, y=None, random_state=0):
        """Reconstruction -log p(x|z) (N,) and KL (N,) of each example (positive nats: their
        sum is the negative ELBO), with no gradients. ``eps=None``: the noise is drawn from
        ``random_state`` (default 0, so that a rerun gives the same numbers; None: the model's
        Generator)."""
        x = self.check_input(x)
        eps = self._eval_eps(eps, (len(x), self.latent_dim), random_state)
        y = self.check_labels(y, len(x))
        mu, logvar, _ = self._encode(x, y)
        rec = self.nll.forward(self._decode(reparameterize(mu, logvar, eps), y), x)
        kl, _, _ = kl_normal(mu, logvar)
        return rec, kl

    def elbo_at(self, x, mu, logvar, eps, y=None):
        """The ELBO of each image at posterior parameters given, not the encoder's, and its
        gradient with respect to them (see ``npvae.models.posterior.elbo_at``): x (N, D),
        mu, logvar, eps (N, K) -> elbo (N,), dmu (N, K), dlogvar (N, K)."""
        return elbo_at(self, x, mu, logvar, eps, y)

    def loss(self, x, eps=None, y=None, random_state=0):
        """The batch-mean loss, positive nats, and its parts: ``LossParts(total, reconstruction,
        kl)``. ``total = reconstruction + beta * kl`` is the training objective (beta = 1: the
        negative ELBO; with free bits, each dimension's KL floored over this batch). With a
        Monte Carlo KL (eps (k, N, K)), total is minus the bound trained on, and reconstruction
        and kl the draws' mean -log p(x | z) and the closed-form KL (``importance.bound``).
        ``eps=None``: the noise is drawn from ``random_state`` (default 0: reruns agree; None:
        the model's Generator)."""
        x = self.check_input(x)
        eps = self._eval_eps(eps, self.eps_shape(len(x)), random_state)
        y = self.check_labels(y, len(x))
        if self.monte_carlo:  # the bound, with eps (k, N, K)
            return LossParts(*importance.loss_parts(self, x, eps, self.beta, y))
        mu, logvar, _ = self._encode(x, y)
        rec = self.nll.forward(self._decode(reparameterize(mu, logvar, eps), y), x)
        kl, objective, _, _ = self._kl(mu, logvar)
        return self._parts(rec, kl, objective=objective)

    def _kl(self, mu, logvar):
        """The KL (N,), the KL term of the objective (N,; the KL unless free bits) and the
        objective's gradients for mu and logvar (N, K), summed over the rows."""
        if self.free_bits:
            return kl_free_bits(mu, logvar, self.free_bits)
        kl, dmu, dlogvar = kl_normal(mu, logvar)
        return kl, kl, dmu, dlogvar

    def _parts(self, rec, kl, beta=None, n=None, objective=None):
        n = len(rec) if n is None else n
        beta = self.beta if beta is None else beta
        objective = kl if objective is None else objective
        rec, kl, objective = (float(v.sum()) / n for v in (rec, kl, objective))
        return LossParts(rec + beta * objective, rec, kl)

    def forward_backward(self, x, eps, beta=None, y=None, batch_size=None):
        """One forward and backward pass; writes the gradient into ``self.params.grad``.
        ``x`` (N, D), ``eps`` (N, K) (or (k, N, K) with a Monte Carlo KL) and ``y`` must already
        be checked (``check_input``, ``check_eps``, ``check_labels``): the training loop's fast
        path. ``beta`` overrides ``self.beta`` (KL warm-up). Returns the batch's ``LossParts``.
        ``batch_size``: when x is a share of a larger batch (``npvae.training.parallel``), the size
        of that batch; the loss is then this share's sum divided by it, so that the shares' losses
        and gradients add up to the batch's. Default: N, the batch mean."""
        n = len(x) if batch_size is None else batch_size
        if self.free_bits and n != len(x):
            raise ValueError("free bits floor the batch's mean KL: forward_backward needs the "
                             "whole batch, not a share of it")
        beta = self.beta if beta is None else beta
        if self.monte_carlo:  # eps (k, N, K): the bound, npvae.models.importance
            return LossParts(*importance.forward_backward(self, x, eps, beta, y, n,
                                                          self.gradient))
        mu, logvar, logvar_raw = self._encode(x, y)  # (N, K) each
        z = reparameterize(mu, logvar, eps)  # (N, K)
        out = self._decode(z, y)  # (N, D)
        rec = self.nll.forward(out, x)  # (N,)
        kl, objective, dmu_kl, dlogvar_kl = self._kl(mu, logvar)  # (N,), (N,), (N, K), (N, K)

        dout = self.nll.backward(1 / n)  # (N, D); 1/n because the loss is a mean over the batch
        dz = self.decoder.backward(dout)[:, :self.latent_dim]  # (N, K); the label has no gradient
        dmu, dlogvar = reparameterize_backward(dz, logvar, eps)
        dmu += (beta / n) * dmu_kl
        dlogvar += (beta / n) * dlogvar_kl
        dlogvar *= logvar_raw < LOGVAR_MAX  # the cap lets no gradient through
        dh = self.mu_head.backward(dmu)  # (N, H)
        dh_logvar = self.logvar_head.backward(dlogvar)
        if self.hidden_dims:  # with no hidden layers the heads read x: nothing further back
            dh += dh_logvar
            self.encoder.backward(dh)
        return self._parts(rec, kl, beta, n, objective)

    def loss_and_grads(self, x, eps=None, y=None):
        """The loss (a float, batch mean in nats) and a dict name -> gradient (fresh copies).

        With ``eps`` given, the loss is a deterministic function of the parameters; with
        ``eps=None`` the noise is drawn from the model's Generator. ``y``: labels (N,) of a
        conditional model.
        """
        x = self.check_input(x)
        eps = self.draw_eps(len(x)) if eps is None else self.check_eps(eps, len(x))
        parts = self.forward_backward(x, eps, y=self.check_labels(y, len(x)))
        return parts.total, {name: self.params.grads[name].copy() for name in self.params.names}


def _rebuild_vae(config, vector, rng):
    """The VAE that ``VAE.__reduce__`` describes (its weights not drawn from ``rng``)."""
    model = VAE(**config, random_state=0)
    model.params.vector[...] = vector
    model.rng = rng
    return model
