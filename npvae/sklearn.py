"""``VAETransformer``: npvae's VAE as a scikit-learn transformer, for Pipelines and grid searches.

It builds a ``npvae.VAE`` and trains it with ``npvae.fit``, the loop the command line uses;
scikit-learn's base classes give it the rest (``get_params``/``set_params``, ``clone``,
``fit_transform``, feature names, ``set_output``), and its ``validate_data`` checks the input.

    transform(X)          mu(x), the posterior mean                          (N, D) -> (N, K)
    inverse_transform(Z)  the mean of p(x | z)                               (N, K) -> (N, D)
    score_samples(X)      ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) (N, D) -> (N,)
    score(X)              the mean of score_samples(X)

The ELBO is a lower bound on log p(x), in nats: higher is better, as GridSearchCV expects. It is
the ELBO whatever ``beta`` the model was trained with (beta weights the KL in training only), so
models trained with different betas compare. The expectation is estimated with one noise sample
per example, ``E_q[log p(x | z)] ~ log p(x | mu + exp(logvar / 2) * eps)``, as in
``npvae.evaluate``, but with each example's eps drawn from a seed made of the example itself
(``example_noise``): so a score is a fixed number, the same for an example scored alone or among
others in any order, and the same noise serves every model scored on the same data.

Precision: transform, inverse_transform and score_samples compute in float64, from a float64
copy of a float32 model's weights, and the first two return the model's dtype. In float32 the
rounding of a row's matrix products depends on the rows that BLAS multiplies with it (its kernels
treat the rows of a block differently), so an example's code or score would change in its 7th
digit with the examples beside it or their order; scikit-learn's checks rightly refuse that.
Training, where the time goes, stays in ``dtype``.

Shapes: X (N, D), Z (N, K); D = n_features_in_, K = latent_dim.
"""

import hashlib

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from .models.vae import VAE
from .training.fit import fit
from .utils.validation import check_dtype, check_random_state

SCORE_SEED = 0  # with each example's own bytes, seeds its noise in score_samples
BATCH = 1000  # rows at a time in transform, inverse_transform and score_samples


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A VAE as a scikit-learn transformer: ``transform`` gives the posterior means.

    Args (as ``npvae.VAE`` and ``npvae.fit``):
        hidden_dims: sizes of the encoder's hidden layers (the decoder uses them reversed).
        latent_dim: K, the number of output features.
        likelihood: "bernoulli" (data in [0, 1], e.g. after ``MinMaxScaler(clip=True)``) or
            "gaussian" (any real data, standardised for preference).
        gaussian_std: for "gaussian", the standard deviation of p(x | z): "learned" (one for
            all features), "learned-per-dim" (one each) or a fixed number.
        beta: weight of the KL term in training (1: the ELBO).
        epochs, batch_size, lr: training with Adam.
        dtype: "float32" or "float64"; the outputs of transform and inverse_transform have it.
        random_state: None, an int or a numpy Generator, for the initial weights, the noise and
            the shuffling. An int gives the same model at every fit; a Generator is drawn from
            (and so advanced) by each fit.
        verbose: show a progress bar over each epoch's batches.
        objective, k, kl, gradient: the training objective: the ELBO (default) or the
            importance-weighted bound with k draws per image, and the encoder's gradient
            estimator (``npvae.VAE``). score_samples gives the ELBO whatever the objective.

    Attributes after fit:
        model_: the trained ``npvae.VAE``.
        history_: ``npvae.fit``'s history, one dict per epoch (train_loss, ...).
        n_features_in_: D; feature_names_in_ too if X had string column names.
    """

    def __init__(self, hidden_dims=(400, 400), latent_dim=20, likelihood="bernoulli", beta=1.0,
                 epochs=10, batch_size=128, lr=1e-3, dtype="float32", random_state=None,
                 verbose=False, gaussian_std="learned", objective="elbo", k=None, kl=None,
                 gradient="reparam"):
        self.hidden_dims = hidden_dims
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.gaussian_std = gaussian_std
        self.beta = beta
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.objective = objective
        self.k = k
        self.kl = kl
        self.gradient = gradient

    def fit(self, X, y=None):
        """Build the VAE for X's width and train it on X (N, D); ``y`` is ignored."""
        if np.ndim(self.hidden_dims) != 1:
            raise ValueError("hidden_dims must be a sequence of positive integers, e.g. (400, "
                             f"400); got {self.hidden_dims!r}")
        fitted = {name: getattr(self, name) for name in ("n_features_in_", "feature_names_in_")
                  if hasattr(self, name)}  # a fit that fails leaves the last one whole
        try:
            X = self._check_X(X, check_dtype(self.dtype), self.likelihood, reset=True)
            model = VAE(X.shape[1], self.hidden_dims, self.latent_dim, self.likelihood,
                        self.beta, self.dtype, check_random_state(self.random_state),
                        gaussian_std=self.gaussian_std, objective=self.objective, k=self.k,
                        kl=self.kl, gradient=self.gradient)
            history = fit(model, X, self.epochs, self.batch_size, self.lr,
                          progress=bool(self.verbose))
        except BaseException:
            for name in ("n_features_in_", "feature_names_in_"):
                if name in fitted:
                    setattr(self, name, fitted[name])
                elif hasattr(self, name):
                    delattr(self, name)
            raise
        self.model_, self.history_ = model, history  # only once training has succeeded
        return self

    def transform(self, X):
        """The posterior means mu(x): X (N, D) -> (N, K), of the model's dtype."""
        X = self._check_fitted_X(X)
        model = self._float64_model()
        mu = np.concatenate([model.encode(X[rows])[0] for rows in _batches(len(X))])
        return mu.astype(self.model_.dtype, copy=False)

    def inverse_transform(self, Z):
        """The decoder's means, pixel probabilities for Bernoulli: Z (N, K) -> (N, D)."""
        check_is_fitted(self)
        Z = check_array(Z, dtype=np.float64)
        if Z.shape[1] != self.model_.latent_dim:
            raise ValueError(f"Z must be 2-D (n_samples, {self.model_.latent_dim}); "
                             f"got shape {Z.shape}")
        model = self._float64_model()
        means = np.concatenate([model.decode(Z[rows]) for rows in _batches(len(Z))])
        return means.astype(self.model_.dtype, copy=False)

    def score_samples(self, X):
        """The ELBO of each example in nats, X (N, D) -> (N,), with one noise sample per example
        from ``example_noise``. Higher means the model finds x more likely."""
        X = self._check_fitted_X(X)
        model = self._float64_model()
        elbo = np.empty(len(X))
        for rows in _batches(len(X)):
            eps = example_noise(X[rows], model.latent_dim)  # (n, K)
            reconstruction, kl = model.per_example_loss(X[rows], eps)
            elbo[rows] = -(reconstruction + kl)
        return elbo

    def score(self, X, y=None):
        """The mean ELBO of X (N, D) in nats per example: higher is better. ``y`` is ignored."""
        return float(self.score_samples(X).mean())

    def sample(self, n, random_state=None):
        """n draws from the prior, decoded to the mean of p(x | z): (n, D). ``random_state``:
        None continues the model's Generator; an int or a Generator gives a repeatable draw."""
        check_is_fitted(self)
        return self.model_.sample(n, random_state)

    @property
    def _n_features_out(self):
        """K, for get_feature_names_out: vaetransformer0, vaetransformer1, ..."""
        return self.model_.latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:  # the output has the model's dtype, whatever the input's
            tags.transformer_tags.preserves_dtype = [check_dtype(self.dtype).name]
        except (TypeError, ValueError):  # a bad dtype is reported by fit, not here
            tags.transformer_tags.preserves_dtype = []
        return tags

    def _float64_model(self):
        """model_, or a float64 copy of it (its weights converted exactly) if it is float32."""
        if self.model_.dtype == np.float64:
            return self.model_
        model = VAE(**{**self.model_.config(), "dtype": "float64"}, random_state=0)
        model.params.vector[...] = self.model_.params.vector
        return model

    def _check_fitted_X(self, X):
        """X for a fitted model, as float64 (see "Precision" in the module's docstring)."""
        check_is_fitted(self)
        return self._check_X(X, np.float64, self.model_.likelihood, reset=False)

    def _check_X(self, X, dtype, likelihood, reset):
        """X as a finite 2-D array of ``dtype`` with n_features_in_ columns, or ValueError."""
        X = validate_data(self, X, reset=reset, dtype=dtype)
        if likelihood == "bernoulli" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"X must lie in [0, 1] for likelihood='bernoulli'; got values in [{X.min():.8g}, "
                f"{X.max():.8g}]. Scale it first, e.g. with sklearn.preprocessing.MinMaxScaler("
                "clip=True) in a Pipeline, or choose likelihood='gaussian'.")
        return X


def example_noise(X, latent_dim, seed=SCORE_SEED):
    """Standard normal noise eps (N, K), row n drawn from a Generator seeded by ``seed`` and a
    hash of row n of X (its float64 bytes): an example gets the same noise whatever else is
    scored with it and in whatever order, and different examples get independent noise."""
    X = np.asarray(X, dtype=np.float64)
    eps = np.empty((len(X), latent_dim))
    for n, row in enumerate(X):
        key = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), "little")
        eps[n] = np.random.default_rng([seed, key]).standard_normal(latent_dim)
    return eps


def _batches(n):
    """Slices of at most BATCH rows covering range(n)."""
    return [slice(start, min(start + BATCH, n)) for start in range(0, n, BATCH)]
