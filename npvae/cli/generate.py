"""What each ``npvae`` subcommand does (``train``: ``npvae.cli.train``); ``npvae.cli`` parses
the arguments and calls these.

Each takes the parsed arguments and returns the exit status. Errors a user can make raise
ValueError (or OSError), which the command line turns into one line and exit status 2.
"""

from pathlib import Path
from statistics import NormalDist

import numpy as np

from ..data.catalog import SPRITES
from ..data.sprites import SHAPES
from ..evaluation import plots
from .run_folder import (MAX_COLUMNS, MAX_IMAGES, MAX_ROWS, check_at_most, check_per_example_path,
                         display, labels_for, latent_columns, open_run, save_figure, test_set,
                         write_per_example)


def samples_figure(model, config, n=None, seed=0, label=None, shown=lambda X: X):
    """A grid of n prior samples; for a conditional model, n of each class in a row per class
    (or n of one chosen class). ``shown``: from the model's data to pixel values
    (``runs.display``)."""
    cols = 8 if config.image_shape[0] > 10 else 10
    if model.n_classes and label is None:
        cols = n or cols
        y = np.repeat(np.arange(model.n_classes), cols)
        images = shown(model.sample(len(y), random_state=seed, y=y))
        return plots.image_grid(images, config.image_shape, cols,
                                f"Samples of each class ({config.dataset})",
                                row_labels=[str(c) for c in range(model.n_classes)])
    n = n or cols * cols
    cols = int(np.ceil(np.sqrt(n)))
    title = f"{n} samples from the prior ({config.dataset})"
    if label is not None:
        title = f"{n} samples of class {label} ({config.dataset})"
    return plots.image_grid(shown(model.sample(n, random_state=seed, y=label)),
                            config.image_shape, cols, title)


def reconstruction_figure(model, X, y, config, shown=lambda X: X):
    images = shown(np.concatenate([X, model.reconstruct(X, labels_for(model, y))]))
    return plots.image_grid(images, config.image_shape, len(X), f"Test images (top) and their "
                            f"reconstructions (bottom), {config.dataset}",
                            row_labels=["data", "recon."])


def sample(args):
    model, config = open_run(args.run)
    per_class = model.n_classes and args.label is None
    check_at_most("n", args.n, MAX_COLUMNS if per_class else MAX_IMAGES,
                  "images of each class in a row" if per_class else "images in a figure")
    if args.label is not None:
        if not model.n_classes:
            raise ValueError("--label needs a conditional run (train with --conditional)")
        if not 0 <= args.label < model.n_classes:
            raise ValueError(f"--label must lie in [0, {model.n_classes}); got {args.label}")
    folder, shown = Path(args.run), display(config)
    if per_class:
        save_figure(samples_figure(model, config, args.n, args.seed, shown=shown),
                    folder / "samples_by_class.png")
    else:
        save_figure(samples_figure(model, config, args.n, args.seed, args.label, shown),
                    folder / "samples.png")
    return 0


def reconstruct(args):
    check_at_most("n", args.n, MAX_COLUMNS, "images in a row")
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    save_figure(reconstruction_figure(model, X_test[:args.n], y_test[:args.n], config,
                                      display(config)),
                Path(args.run) / "reconstructions.png")
    return 0


def interpolate(args):
    """Decoded straight lines between the posterior means of test images of two classes (for a
    conditional model, each step decoded with the label of the nearer end)."""
    check_at_most("pairs", args.pairs, MAX_ROWS, "rows in a figure")
    check_at_most("steps", args.steps, MAX_COLUMNS, "images in a row")
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    firsts = [np.flatnonzero(y_test == c)[0] for c in np.unique(y_test)]
    pairs = [(firsts[i % len(firsts)], firsts[(i + 1) % len(firsts)]) for i in range(args.pairs)]
    ends = np.ravel(pairs)
    mu, _ = model.encode(X_test[ends], labels_for(model, y_test[ends]))
    start, end = mu[0::2], mu[1::2]  # (P, K) each
    t = np.linspace(0, 1, args.steps, dtype=model.dtype)[None, :, None]  # (1, S, 1)
    z = (1 - t) * start[:, None, :] + t * end[:, None, :]  # (P, S, K)
    nearer = np.where(t[0, :, 0] < 0.5, 0, 1)  # (S,)
    y = np.array([y_test[[a, b]][nearer] for a, b in pairs]).ravel()
    images = display(config)(model.decode(z.reshape(-1, model.latent_dim), labels_for(model, y)))
    labels = [f"{y_test[a]}→{y_test[b]}" for a, b in pairs]
    fig = plots.image_grid(images, config.image_shape, args.steps,
                           f"Interpolating between posterior means ({config.dataset})",
                           row_labels=labels)
    save_figure(fig, Path(args.run) / "interpolation.png")
    return 0


def latent(args):
    from sklearn.decomposition import PCA

    if args.per_example:
        check_per_example_path(args.per_example)
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    mu, logvar = model.encode(X_test, labels_for(model, y_test))
    if args.per_example:  # each test image's posterior: its label, mean and log-variance
        write_per_example(args.per_example, {"index": np.arange(len(mu)), "label": y_test,
                                             **latent_columns(mu, logvar)})
    if model.latent_dim > 2:
        if len(mu) < 2:
            raise ValueError(f"a PCA of the posterior means needs at least 2 test images; "
                             f"{config.dataset}'s test set holds {len(mu)}")
        pca = PCA(2).fit(mu)
        points, xlabel, ylabel = pca.transform(mu), "PC 1", "PC 2"
        title = (f"Test-set posterior means ({config.dataset}), PCA of {model.latent_dim}-D "
                 f"latents ({pca.explained_variance_ratio_.sum():.0%} of variance)")
    elif model.latent_dim == 2:
        points, xlabel, ylabel = mu, "z1", "z2"
        title = f"Test-set posterior means ({config.dataset})"
    else:  # one latent dimension: z1 across, the label (jittered) up
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(mu))
        points, xlabel, ylabel = np.column_stack([mu[:, 0], y_test + jitter]), "z1", "label"
        title = f"Test-set posterior means ({config.dataset})"
    names = SHAPES if config.dataset in SPRITES else None  # sprites' labels are their shapes
    if config.holdout_class is not None:
        title += f"; class {config.holdout_class} was held out of training"
    save_figure(plots.latent_scatter(points, y_test, title, xlabel, ylabel, names=names),
                Path(args.run) / "latent.png")
    if model.latent_dim == 2 and not model.n_classes:  # Kingma & Welling's figure 4
        side = 15
        q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, side)])
        z = np.array([[a, b] for b in q[::-1] for a in q])  # rows: z2 from high to low
        fig = plots.image_grid(display(config)(model.decode(z)), config.image_shape, side,
                               f"Decoded latent grid ({config.dataset}): z1 across, z2 up, at "
                               "the prior's quantiles 0.05 to 0.95")
        plots.label_grid_axes(fig.axes[0], config.image_shape, q, q[::-1], "z1", "z2")
        save_figure(fig, Path(args.run) / "manifold.png")
    return 0


