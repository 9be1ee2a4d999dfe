"""What each ``npvae`` subcommand does; ``npvae.cli`` parses the arguments and calls these.

Each takes the parsed arguments and returns the exit status. Errors a user can make raise
ValueError (or OSError), which the command line turns into one line and exit status 2.
"""

import json
import sys
from dataclasses import asdict, fields
from pathlib import Path
from statistics import NormalDist

import numpy as np

from . import plots
from .checkpoint import CheckpointError, read_checkpoint, write_text_atomically
from .checks import (BROKEN, EXERCISES, Section, broken, judge, report, standard_sections,
                     user_layer_rows)
from .data import DownloadError, load_dataset
from .disentangling_commands import build_model, disentanglement_report, fill_model_defaults
from .evaluation import active_units, evaluate, iwae_bound, kl_per_dimension
from .runs import (MAX_COLUMNS, MAX_IMAGES, MAX_ROWS, Terminated, TrainConfig, check_at_most,
                   labels_for, open_run, save_figure, test_set, without_class, write_history)
from .student import Student
from .train import fit, test_targets
from .vae import VAE


TRAIN_OPTIONS = ("dataset", "data_dir", "epochs", "batch_size", "lr", "hidden", "latent_dim",
                 "beta", "likelihood", "binarize", "warmup", "dtype", "seed", "conditional",
                 "holdout_class", "engine", "model", "alpha", "gamma", "estimator")


def given_options(args):
    """The training options typed on the command line (the others are None), normalised: a
    tuple of hidden sizes, an absolute data folder."""
    given = {name: getattr(args, name) for name in TRAIN_OPTIONS
             if getattr(args, name) is not None}
    if "hidden" in given:
        given["hidden"] = tuple(given["hidden"])
    if "data_dir" in given:
        given["data_dir"] = str(Path(given["data_dir"]).resolve())
    return given


def resumed_config(out, given):
    """The saved configuration of the run in ``out`` and its completed epochs. A flag that
    differs from the saved run is an error that names it; only --epochs may change."""
    checkpoint = out / "checkpoint.npz"
    if not checkpoint.exists():
        raise CheckpointError(f"--resume: {out} holds no checkpoint.npz to resume")
    meta = read_checkpoint(checkpoint)[0]
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in (meta.get("train") or {}).items() if k in names})
    config.hidden = tuple(config.hidden)
    saved = asdict(config)
    if saved["data_dir"] is not None:
        saved["data_dir"] = str(Path(saved["data_dir"]).resolve())
    conflicts = [f"--{name.replace('_', '-')} {given[name]} (the run has {saved[name]})"
                 for name in given if name != "epochs" and given[name] != saved[name]]
    if conflicts:
        raise ValueError(f"--resume continues {out} with its saved settings, and these flags "
                         f"differ from them: {'; '.join(conflicts)}. Leave them out, or start a "
                         "new run with another --out")
    config.epochs = given.get("epochs", config.epochs)
    return config, meta["epoch"]


def training_data(config, given):
    """The data set for a new run; ``config.dataset`` says which it was. With no --dataset and
    no --data-dir: MNIST, or when it cannot be downloaded, the MNIST test set npvae ships."""
    if config.data_dir is not None and config.dataset == "digits":
        raise ValueError("--data-dir reads MNIST-format IDX files; --dataset digits comes with "
                         "scikit-learn and takes no folder")
    if config.data_dir is not None and "dataset" not in given:
        config.dataset = Path(config.data_dir).name  # a label: the folder's name
    try:
        return load_dataset(config.dataset, config.data_dir)
    except DownloadError as error:
        if "dataset" in given:  # whoever asked for the full set must not get a subset silently
            raise
        print(f"npvae train: {error.reason}; training on the MNIST test set that ships with "
              "npvae instead (--dataset mnist-t10k: its first 8,000 images train, the last 2,000 "
              "test). For the full MNIST, run where www.openml.org is reachable (it is cached "
              "after one download) or pass --data-dir with its IDX files", file=sys.stderr)
        config.dataset = "mnist-t10k"
        return load_dataset(config.dataset)


def check_out_folder(out):
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if (out / "checkpoint.npz").exists():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it, "
                         "or choose another --out")


def train(args):
    given = given_options(args)
    if args.resume:
        out = Path(args.out or f"runs/{given.get('dataset', 'mnist')}")
        config, done = resumed_config(out, given)
        if done >= config.epochs:
            print(f"{out} already holds {done} epochs; nothing to train (ask for more with "
                  "--epochs)")
            return 0
        config.check()
        full = load_dataset(config.dataset, config.data_dir)
    else:
        config = TrainConfig(**given)
        fill_model_defaults(config, given)  # issue 17 hook: --model's own options
        config.check()
        if args.out:
            check_out_folder(Path(args.out))
        full = training_data(config, given)  # before anything is written
        out = Path(args.out or f"runs/{config.dataset}")
        check_out_folder(out)
    checkpoint = out / "checkpoint.npz"
    data = without_class(full, config.holdout_class)
    config.image_shape = tuple(data.image_shape)
    n_classes = int(full.y_train.max()) + 1 if config.conditional else 0
    model = VAE(data.X_train.shape[1], config.hidden, config.latent_dim, config.likelihood,
                config.beta, np.dtype(config.dtype), config.seed, n_classes=n_classes)
    model = build_model(config, model, len(data.X_train))  # issue 17 hook: --model
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "config.json", json.dumps(asdict(config), indent=1))
    held_out = "" if config.holdout_class is None else f" (class {config.holdout_class} held out)"
    sizes = "-".join(map(str, (model.input_dim, *config.hidden, config.latent_dim)))
    print(f"training {config.dataset}: {len(data.X_train)} train, {len(data.X_test)} test "
          f"images{held_out}; {sizes}{', conditional' if n_classes else ''}"
          f"{'' if config.model == 'vae' else ', ' + config.model}, "
          f"{len(model.params):,} parameters; run folder {out}")

    def report_epoch(history):
        record = history[-1]
        write_history(out, history)
        print(f"epoch {record['epoch']:3d}/{config.epochs}  train {record['train_loss']:8.3f} "
              f"(rec {record['train_reconstruction']:8.3f}, kl {record['train_kl']:6.3f})  "
              f"test {record['test_loss']:8.3f} (rec {record['test_reconstruction']:8.3f}, "
              f"kl {record['test_kl']:6.3f})  {record['seconds']:.1f} s", flush=True)

    try:
        history = fit(model, data.X_train, config.epochs, config.batch_size, config.lr,
                      data.X_test, config.binarize, config.warmup, checkpoint_path=checkpoint,
                      resume=args.resume, train_config=asdict(config),
                      progress=not args.quiet and sys.stderr.isatty(), callback=report_epoch,
                      y_train=data.y_train, y_test=data.y_test, engine=config.engine)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated)
        how = "terminated" if isinstance(stop, Terminated) else "interrupted"
        if checkpoint.exists():
            epoch = read_checkpoint(checkpoint)[0]["epoch"]
            print(f"npvae train: {how}; {checkpoint} keeps epoch {epoch} "
                  "(continue with --resume)", file=sys.stderr)
        else:
            print(f"npvae train: {how} before the first epoch ended; no checkpoint",
                  file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    if history:
        save_figure(samples_figure(model, config), out / "samples.png")
        X_test = test_targets(data.X_test, config.binarize)
        save_figure(reconstruction_figure(model, X_test[:16], data.y_test[:16], config),
                    out / "reconstructions.png")
        save_figure(plots.loss_curves(history), out / "loss.png")
    return 0


def samples_figure(model, config, n=None, seed=0, label=None):
    """A grid of n prior samples; for a conditional model, n of each class in a row per class
    (or n of one chosen class)."""
    cols = 8 if config.image_shape[0] > 10 else 10
    if model.n_classes and label is None:
        cols = n or cols
        y = np.repeat(np.arange(model.n_classes), cols)
        images = model.sample(len(y), random_state=seed, y=y)
        return plots.image_grid(images, config.image_shape, cols,
                                f"Samples of each class ({config.dataset})",
                                row_labels=[str(c) for c in range(model.n_classes)])
    n = n or cols * cols
    cols = int(np.ceil(np.sqrt(n)))
    title = f"{n} samples from the prior ({config.dataset})"
    if label is not None:
        title = f"{n} samples of class {label} ({config.dataset})"
    return plots.image_grid(model.sample(n, random_state=seed, y=label), config.image_shape,
                            cols, title)


def reconstruction_figure(model, X, y, config):
    images = np.concatenate([X, model.reconstruct(X, labels_for(model, y))])
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
    folder = Path(args.run)
    if per_class:
        save_figure(samples_figure(model, config, args.n, args.seed),
                    folder / "samples_by_class.png")
    else:
        save_figure(samples_figure(model, config, args.n, args.seed, args.label),
                    folder / "samples.png")
    return 0


def reconstruct(args):
    check_at_most("n", args.n, MAX_COLUMNS, "images in a row")
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    save_figure(reconstruction_figure(model, X_test[:args.n], y_test[:args.n], config),
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
    images = model.decode(z.reshape(-1, model.latent_dim), labels_for(model, y))
    labels = [f"{y_test[a]}→{y_test[b]}" for a, b in pairs]
    fig = plots.image_grid(images, config.image_shape, args.steps,
                           f"Interpolating between posterior means ({config.dataset})",
                           row_labels=labels)
    save_figure(fig, Path(args.run) / "interpolation.png")
    return 0


def latent(args):
    from sklearn.decomposition import PCA

    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    mu, _ = model.encode(X_test, labels_for(model, y_test))
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
        save_figure(plots.image_grid(model.decode(z), config.image_shape, side,
                                     "Decoded latent grid (Gaussian quantiles 0.05 to 0.95)"),
                    Path(args.run) / "manifold.png")
    return 0


def evaluate_run(args):
    model, config = open_run(args.run)
    data = load_dataset(config.dataset, config.data_dir)  # (once: its factors, if it has them)
    X_test, y_test = test_targets(data.X_test, config.binarize), data.y_test
    y = labels_for(model, y_test)
    result = evaluate(model, X_test, random_state=args.seed, y=y)
    print(f"test negative ELBO {result['loss']:.3f} nats per example "
          f"(reconstruction {result['reconstruction']:.3f}, KL {result['kl']:.3f}), "
          f"{len(X_test)} images of {config.dataset}")
    if args.iwae_k is not None:
        bound = iwae_bound(model, X_test, k=args.iwae_k, random_state=args.seed, y=y,
                           progress=sys.stderr.isatty())
        print(f"test negative log-likelihood <= {-bound:.3f} nats per example "
              f"(importance-weighted bound, k = {args.iwae_k})")
    per_dim = kl_per_dimension(model, X_test, y=y)
    count, variances = active_units(model, X_test, y=y)
    print(f"active units: {count} of {model.latent_dim} (Var_x E[z_k | x] > 0.01)")
    print("KL per latent dimension: " + " ".join(f"{v:.2f}" for v in per_dim))
    save_figure(plots.bar_chart(per_dim, f"KL per latent dimension ({count} of "
                                f"{model.latent_dim} active)", "latent dimension k",
                                "KL (nats per example)"),
                Path(args.run) / "kl_per_dimension.png")
    if data.factors_test is not None and not model.n_classes:  # issue 17 hook: MIG, KL parts
        disentanglement_report(model, data, X_test, args.seed)
    return 0


def gradcheck(args):
    """Exit status 0 when every check passes, 1 when one fails, 2 when the user's code could
    not be checked (it could not be loaded, built or run: one line saying where)."""
    exercise = args.exercise or (("adam", args.optimizer) if args.optimizer else None)
    if exercise is not None:
        name, spec = exercise
        if name not in EXERCISES:
            raise ValueError(f"--exercise: no exercise {name!r}; expected one of "
                             f"{', '.join(EXERCISES)}")
        text, passed = judge(name, Student(spec), args.seed)
    elif args.layer:
        rows = user_layer_rows(Student(args.layer), args.inputs, args.outputs, args.seed)
        text, passed = report([Section(f"{args.layer} (your layer)", rows)])
    elif args.broken:
        print(f"BROKEN on purpose ({args.broken}): {BROKEN[args.broken][2]}\n")
        with broken(args.broken):
            text, passed = report(standard_sections(args.seed))
    else:
        text, passed = report(standard_sections(args.seed))
    print(text)
    return 0 if passed else 1
