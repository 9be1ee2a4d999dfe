"""What each ``npvae`` subcommand does (``train``: ``npvae.train_command``); ``npvae.cli`` parses
the arguments and calls these.

Each takes the parsed arguments and returns the exit status. Errors a user can make raise
ValueError (or OSError), which the command line turns into one line and exit status 2.
"""

import json
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

from . import plots
from .checkpoint import write_text_atomically
from .checks import (BROKEN, EXERCISES, Section, broken, judge, report, standard_sections,
                     user_layer_rows)
from .data import load_dataset
from .disentangling_commands import disentanglement_report
from .evaluation import (active_units, elbo_summary, iwae_nll_per_example, kl_per_dimension,
                         per_example_elbo)
from .runs import (MAX_COLUMNS, MAX_IMAGES, MAX_ROWS, check_at_most, check_per_example_path,
                   data_units, display, labels_for, latent_columns, open_run, run_data,
                   save_figure, test_set, write_per_example)
from .student import CouldNotCheck, Student


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
        pca = PCA(2).fit(mu)
        points, xlabel, ylabel = pca.transform(mu), "PC 1", "PC 2"
        title = (f"Test-set posterior means, PCA of {model.latent_dim}-D latents "
                 f"({pca.explained_variance_ratio_.sum():.0%} of variance)")
    elif model.latent_dim == 2:
        points, xlabel, ylabel = mu, "z1", "z2"
        title = f"Test-set posterior means ({config.dataset})"
    else:  # one latent dimension: z1 across, the label (jittered) up
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(mu))
        points, xlabel, ylabel = np.column_stack([mu[:, 0], y_test + jitter]), "z1", "label"
        title = f"Test-set posterior means ({config.dataset})"
    save_figure(plots.latent_scatter(points, y_test, title, xlabel, ylabel),
                Path(args.run) / "latent.png")
    if model.latent_dim == 2 and not model.n_classes:  # Kingma & Welling's figure 4
        side = 15
        q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, side)])
        z = np.array([[a, b] for b in q[::-1] for a in q])  # rows: z2 from high to low
        save_figure(plots.image_grid(display(config)(model.decode(z)), config.image_shape, side,
                                     "Decoded latent grid (Gaussian quantiles 0.05 to 0.95)"),
                    Path(args.run) / "manifold.png")
    return 0


def evaluate_run(args):
    """Test negative ELBO, the IWAE bound, KL per dimension, active units; with --json, all of
    it in evaluation.json."""
    if args.au_threshold < 0 or args.kl_threshold < 0:
        raise ValueError("--au-threshold and --kl-threshold must be >= 0")
    if args.per_example:
        check_per_example_path(args.per_example)
    model, config = open_run(args.run)
    data = load_dataset(config.dataset, config.data_dir)  # (once: its factors, if it has them)
    X_test, y_test = test_set(config)
    y = labels_for(model, y_test)
    rec, kl = per_example_elbo(model, X_test, random_state=args.seed, y=y)
    result = elbo_summary(rec, kl)  # evaluate's numbers, with the rows kept
    columns = {"index": np.arange(len(X_test)), "label": y_test, "neg_elbo": rec + kl,
               "reconstruction": rec, "kl": kl}
    standardizer = run_data(config, data).standardizer if config.standardize else None
    print(f"test negative ELBO {result['loss']:.3f} nats per example "
          f"(reconstruction {result['reconstruction']:.3f}, KL {result['kl']:.3f}), "
          f"{len(X_test)} images of {config.dataset}" + data_units(result["loss"], standardizer))
    report = {"dataset": config.dataset, "images": len(X_test), "seed": args.seed,
              "neg_elbo": result["loss"], "reconstruction": result["reconstruction"],
              "kl": result["kl"]}
    if standardizer is not None:
        report["log_det_standardization"] = standardizer.log_det()
    if args.iwae_k is not None:
        columns["iwae_nll"] = iwae_nll_per_example(model, X_test, k=args.iwae_k,
                                                   random_state=args.seed, y=y,
                                                   progress=sys.stderr.isatty())
        nll = float(columns["iwae_nll"].mean())
        print(f"test negative log-likelihood <= {nll:.3f} nats per example "
              f"(importance-weighted bound, k = {args.iwae_k})" + data_units(nll, standardizer))
        report.update(iwae_nll=nll, iwae_k=args.iwae_k)
    per_dim = kl_per_dimension(model, X_test, y=y)
    count, variances = active_units(model, X_test, threshold=args.au_threshold, y=y)
    carrying = int((per_dim > args.kl_threshold).sum())
    print(f"active units: {count} of {model.latent_dim} (Var_x E[z_k | x] > "
          f"{args.au_threshold:g}); carrying more than {args.kl_threshold:g} nats of KL: "
          f"{carrying} of {model.latent_dim}")
    print("KL per latent dimension: " + " ".join(f"{v:.2f}" for v in per_dim))
    report.update(active_units=count, au_threshold=args.au_threshold,
                  posterior_mean_variance=variances.tolist(), kl_per_dimension=per_dim.tolist(),
                  dimensions_above_kl_threshold=carrying, kl_threshold=args.kl_threshold)
    save_figure(plots.bar_chart(per_dim, f"KL per latent dimension ({carrying} of "
                                f"{model.latent_dim} above {args.kl_threshold:g} nats)",
                                "latent dimension k", "KL (nats per example)",
                                line=args.kl_threshold),
                Path(args.run) / "kl_per_dimension.png")
    if data.factors_test is not None and not model.n_classes:  # issue 17 hook: MIG, KL parts
        report.update(disentanglement_report(model, data, X_test, args.seed))
    if args.json:
        path = Path(args.run) / "evaluation.json"
        write_text_atomically(path, json.dumps(report, indent=1))
        print(f"wrote {path}")
    if args.per_example:
        if standardizer is not None:  # the rows above are in standardised units
            for name in [name for name in ("neg_elbo", "iwae_nll") if name in columns]:
                columns[f"{name}_own_units"] = columns[name] + standardizer.log_det()
        write_per_example(args.per_example, columns)
    return 0


def checking(spec, check):
    """``check()``, with anything the user's code makes it raise (beyond what ``Student.call``
    already catches: an attribute that raises, an array of objects, ...) as CouldNotCheck: one
    line, exit status 2, never a traceback."""
    try:
        return check()
    except (CouldNotCheck, KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:
        raise CouldNotCheck(f"could not check {spec}: {type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else '(no message)'}")\
            from None


def gradcheck(args):
    """Exit status 0 when every check passes, 1 when one fails, 2 when the user's code could
    not be checked (it could not be loaded, built or run: one line saying where)."""
    exercise = args.exercise or (("adam", args.optimizer) if args.optimizer else None)
    if args.broken and (exercise or args.layer):
        raise ValueError("--broken breaks npvae's own formulas, to show a failing report; it "
                         "does not combine with --exercise, --optimizer or --layer")
    if exercise is not None:
        name, spec = exercise
        if name not in EXERCISES:
            raise ValueError(f"--exercise: no exercise {name!r}; expected one of "
                             f"{', '.join(EXERCISES)}")
        text, passed = checking(spec, lambda: judge(name, Student(spec), args.seed))
    elif args.layer:
        rows = checking(args.layer, lambda: user_layer_rows(Student(args.layer), args.inputs,
                                                            args.outputs, args.seed))
        text, passed = report([Section(f"{args.layer} (your layer)", rows)])
    elif args.broken:
        print(f"BROKEN on purpose ({args.broken}): {BROKEN[args.broken][2]}\n")
        with broken(args.broken):
            text, passed = report(standard_sections(args.seed))
    else:
        text, passed = report(standard_sections(args.seed))
    print(text)
    return 0 if passed else 1
