"""The command line's side of the disentangling models: ``npvae train --model tcvae|factorvae``
(their options and defaults), what ``npvae evaluate`` adds for a data set with known factors,
and ``npvae traverse``.
"""

import math
from pathlib import Path

import numpy as np

from ..evaluation import plots
from ..evaluation.disentanglement import (mig_per_factor, minibatch_decomposition, posterior_means,
                                          varying, whole_set_decomposition)
from ..evaluation.elbo import kl_per_dimension
from ..models.factorvae import DISCRIMINATOR_LR, FactorVAE
from ..models.tcvae import ESTIMATORS, TCVAE
from ..utils.validation import check_weight
from .run_folder import display, labels_for, open_run, save_figure, test_set

MODELS = ("vae", "tcvae", "factorvae")
# Each model's own options and their defaults: the ones left out of --model's list are errors.
DEFAULTS = {"vae": {},
            "tcvae": {"alpha": 1.0, "beta": 6.0, "gamma": 1.0, "estimator": "mss"},
            "factorvae": {"beta": 1.0, "gamma": 10.0, "disc_lr": DISCRIMINATOR_LR,
                          "disc_hidden": (256, 256)}}
MAX_ROWS = 40  # latent dimensions in a traversal figure


def fill_model_defaults(config, given):
    """Set the chosen model's defaults of --alpha, --beta, --gamma, --estimator where not given;
    ValueError for an option the model does not take."""
    own = DEFAULTS[config.model]
    for name in ("alpha", "gamma", "estimator", "disc_lr", "disc_hidden"):
        if name in given and name not in own:
            raise ValueError(f"--{name.replace('_', '-')} is an option of --model "
                             f"{' or '.join(m for m in MODELS if name in DEFAULTS[m])}, "
                             f"not of --model {config.model}")
    for name, value in own.items():
        if name not in given:
            setattr(config, name, value)
    if config.model != "vae" and config.engine == "reference":
        raise ValueError(f"--engine reference trains the VAE of npvae/reference.py, not --model "
                         f"{config.model}")
    for name in ("alpha", "gamma"):
        if getattr(config, name) is not None:
            check_weight(f"--{name}", getattr(config, name))


def build_model(config, vae, dataset_size):
    """The model --model names, with the networks of ``vae`` (a fresh ``npvae.VAE`` built from
    the same options) and the model's own options from ``config``."""
    options = {**vae.config(), "random_state": config.seed}  # the VAE's beta is config.beta
    if config.model == "tcvae":
        return TCVAE(**options, alpha=config.alpha, gamma=config.gamma,
                     estimator=config.estimator, dataset_size=dataset_size)
    if config.model == "factorvae":
        return FactorVAE(**options, gamma=config.gamma, discriminator_lr=config.disc_lr,
                         discriminator_hidden=config.disc_hidden)
    return vae


def disentanglement_report(model, data, X_test, seed=0):
    """Print MIG and each factor's information with its best code (the test set's posterior
    means), then the KL term's decomposition on the whole test set beside its minibatch
    estimates (MSS and MWS). ``data``: a ``Dataset`` with factors."""
    codes = posterior_means(model, X_test)
    used = varying(data.factors_test)
    result = {"mig": None}
    if not used.all():  # a small test set of a small file
        print("MIG leaves out the factors constant on the test set: "
              + ", ".join(np.array(data.factor_names)[~used]))
    if used.any() and model.latent_dim > 1:
        result["mig"], result["mig_per_factor"] = mig_report(
            codes, data.factors_test[:, used], np.array(data.factor_names)[used])
    whole = whole_set_decomposition(model, X_test, random_state=seed)
    estimates = {"whole set": whole}
    for estimator in ESTIMATORS:
        name = f"minibatch {estimator.upper()}, B {min(128, len(X_test))}"
        estimates[name] = minibatch_decomposition(model, X_test, estimator, random_state=seed)
    print(f"KL decomposition on the {len(X_test)} test images (nats per image; closed-form KL "
          f"{whole['kl']:.3f}, its one-sample estimate {whole['kl_sampled']:.3f}; the whole "
          f"set's MI can be at most log {len(X_test)} = {math.log(len(X_test)):.2f}):")
    print(f"{'':<24} {'MI':>8} {'TC':>8} {'DWKL':>8}")
    for name, parts in estimates.items():
        print(f"{name:<24} {parts['mi']:8.3f} {parts['tc']:8.3f} {parts['dwkl']:8.3f}")
    result["decomposition"] = estimates
    result["mi_cap"] = math.log(len(X_test))
    return result


def mig_report(codes, factors, names):
    """Print MIG and each factor's best and second-best code; return MIG and, for each factor,
    a dict of what its row prints."""
    gaps, info, entropy = mig_per_factor(codes, factors)
    shape = " (the shape included)" if "shape" in list(names) else ""
    print(f"MIG {gaps.mean():.3f} over {len(gaps)} factors{shape}, "
          f"{len(codes)} test images, 20 bins per code")
    print(f"{'factor':<12} {'H (nats)':>8} {'best code':>9} {'I best':>7} {'I second':>8} "
          f"{'gap / H':>7}")
    rows = {}
    for j, name in enumerate(names):
        order = np.argsort(info[:, j])[::-1]
        print(f"{name:<12} {entropy[j]:8.3f} {'z' + str(order[0]):>9} {info[order[0], j]:7.3f} "
              f"{info[order[1], j]:8.3f} {gaps[j]:7.3f}")
        rows[str(name)] = {"entropy": float(entropy[j]), "best_code": int(order[0]),
                           "info_best": float(info[order[0], j]),
                           "info_second": float(info[order[1], j]), "gap": float(gaps[j])}
    return float(gaps.mean()), rows


def traversal(model, z, dims, limit=2.5, steps=9, y=None):
    """Images (len(dims) * steps, D): for each latent dimension k in ``dims`` a row of decoded
    codes, ``z`` (K,) with z_k going from -limit to +limit."""
    values = np.linspace(-limit, limit, steps, dtype=model.dtype)
    codes = np.repeat(np.asarray(z, dtype=model.dtype)[None], len(dims) * steps, axis=0)
    for row, k in enumerate(dims):
        codes[row * steps:(row + 1) * steps, k] = values
    labels = None if y is None else np.full(len(codes), y)
    return model.decode(codes, labels)


def traverse(args):
    """``npvae traverse``: latent traversals around the posterior mean of one test image, one row
    per latent dimension, sorted by the KL the dimension carries on the test set."""
    if not 2 <= args.steps <= 40:
        raise ValueError(f"--steps must lie in [2, 40]; got {args.steps}")
    if not (np.isfinite(args.limit) and 0 < args.limit <= 100):
        raise ValueError(f"--limit must be a number in (0, 100]; got {args.limit}")
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    if not 0 <= args.index < len(X_test):
        raise ValueError(f"--index must lie in [0, {len(X_test)}); got {args.index}")
    y = labels_for(model, y_test)
    kl = kl_per_dimension(model, X_test, y=y)
    dims = np.argsort(kl, kind="stable")[::-1][:MAX_ROWS]
    label = None if y is None else y[args.index]
    mu, _ = model.encode(X_test[args.index:args.index + 1],
                         None if label is None else [label])
    images = display(config)(traversal(model, mu[0], dims, args.limit, args.steps, label))
    print("latent dimensions by KL (nats per image): "
          + ", ".join(f"z{k} {kl[k]:.2f}" for k in dims))
    fig = plots.image_grid(images, config.image_shape, args.steps,
                           f"Traversals from -{args.limit:g} to {args.limit:g} around test image "
                           f"{args.index} ({config.dataset}, {config.model})",
                           row_labels=[f"z{k} ({kl[k]:.1f})" for k in dims])
    save_figure(fig, Path(args.run) / "traversal.png")
    return 0
