"""``npvae train``: a run folder from the options: the data (validation split, standardised if
asked), the model, ``npvae.fit`` with a line per epoch, the test set once at the end, the
figures. ``--resume`` continues a run with its saved settings.
"""

import contextlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..data.catalog import load_dataset
from ..data.dataset import DownloadError
from ..evaluation import plots
from ..evaluation.elbo import evaluate, kl_per_dimension, optimal_gaussian_std
from ..models.registry import load_model
from ..models.vae import VAE
from ..nn.checkpoint import CheckpointError, read_checkpoint
from ..training.divergence import TrainingDiverged, limit
from ..training.fit import epochs_without_progress, fit, test_targets
from ..utils.files import FolderInUse, hold_folder, write_text_atomically
from .disentangling import build_model, fill_model_defaults
from .generate import reconstruction_figure, samples_figure
from .run_folder import (TrainConfig, data_units, labels_for, run_data, save_figure,
                         saved_config, write_history)
from .stopping import Terminated

TRAIN_OPTIONS = ("dataset", "data_dir", "epochs", "batch_size", "lr", "hidden", "decoder_hidden",
                 "activation", "latent_dim", "beta", "likelihood", "gaussian_std", "standardize",
                 "binarize", "warmup", "kl_cycles", "free_bits", "val_fraction", "patience",
                 "lr_schedule", "dtype", "seed", "conditional", "holdout_class", "engine",
                 "model", "alpha", "gamma", "estimator", "disc_lr", "disc_hidden",
                 "log_std_scale", "objective", "k", "kl", "gradient")


def given_options(args):
    """The training options typed on the command line (the others are None), normalised: a
    tuple of hidden sizes, an absolute data folder."""
    given = {name: getattr(args, name) for name in TRAIN_OPTIONS
             if getattr(args, name) is not None}
    for name in ("hidden", "decoder_hidden", "disc_hidden"):
        if name in given:
            given[name] = tuple(given[name])
    if "data_dir" in given:
        given["data_dir"] = str(Path(given["data_dir"]).resolve())
    return given


def resumed_config(out, given):
    """The saved configuration of the run in ``out`` and its completed epochs. A flag that
    differs from the saved run is an error that names it; only --epochs may change."""
    checkpoint = out / "checkpoint.npz"
    if not checkpoint.exists():
        hint = ("; a run that fell back to the shipped MNIST test set is in runs/mnist-t10k"
                if str(out) == "runs/mnist" and Path("runs/mnist-t10k/checkpoint.npz").exists()
                else "")
        raise CheckpointError(f"--resume: {out} holds no checkpoint.npz to resume (--out names "
                              f"the run's folder){hint}")
    meta = read_checkpoint(checkpoint)[0]
    config = saved_config(meta, checkpoint)
    try:
        config.check()
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{checkpoint}: its saved training settings are damaged "
                              f"({error})") from None
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
    return config, meta


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
        print("npvae train: training on the MNIST test set that ships with npvae "
              "(--dataset mnist-t10k)\n"
              f"  why: {error.reason}.\n"
              "  Of the shipped set's 10,000 images, the first 8,000 train and validate and the "
              "last 2,000 test.\n  For the full MNIST, run once where www.openml.org is "
              "reachable (it is cached), or pass --data-dir with its IDX files.", file=sys.stderr)
        config.dataset = "mnist-t10k"
        return load_dataset(config.dataset)


RUN_FILES = ("config.json", "history.json", "history.csv", "samples.png",
             "reconstructions.png", "loss.png")  # what a run writes beside its checkpoint


def check_out_folder(out):
    """Refuse a file, a run, or a folder with files of the names a run writes that no run of
    npvae's wrote: nothing of the user's is overwritten. (An npvae config.json with no
    checkpoint is a run stopped before its first epoch ended: it may be written again.)"""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if (out / "checkpoint.npz").exists():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it, "
                         "or choose another --out")
    present = [name for name in RUN_FILES if (out / name).exists()]
    if present and not ours(out / "config.json"):
        raise ValueError(f"--out {out} holds {', '.join(present)}, which a run would overwrite "
                         "and which no npvae run wrote: choose another --out")


def new_run_folder(base):
    """``base`` (runs/<dataset>), or if it holds a run or files of the user's, or another
    process holds it, the first of base-2, base-3, ... that does not: a command pasted again
    starts a new run. Returns the folder and its lock (``hold_folder``)."""
    for number in range(1, 10_000):
        folder = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            check_out_folder(folder)
            held = hold_folder(folder)
        except (ValueError, FolderInUse):
            continue
        try:
            check_out_folder(folder)  # again, now that no other run can be writing it
            return folder, held
        except ValueError:
            held.close()
    raise ValueError(f"{base} and 9,998 folders beside it hold runs: choose an --out")


def next_commands(out, config, stopped_early=False):
    """What to try next with the run in ``out``: ready to paste (no more epochs for a run that
    stopped early: resumed, it would stop again)."""
    more = [] if stopped_early else [
        f"  npvae train --resume --out {out} --epochs {config.epochs + 10}"]
    return "\n".join(["next:", f"  npvae sample --run {out}",
                      f"  npvae evaluate --run {out} --iwae-k 100", *more])


def ours(path):
    """Whether ``path`` is a config.json that ``npvae train`` wrote."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"dataset", "epochs", "latent_dim"} <= set(config)


def train(args):
    """``npvae train``; the run folder is held (``hold_folder``) until it returns."""
    with contextlib.ExitStack() as holding:
        return train_holding(args, holding)


def train_holding(args, holding):
    given = given_options(args)
    if args.resume:
        out = Path(args.out or f"runs/{given.get('dataset', 'mnist')}")
        if (out / "checkpoint.npz").exists():  # (else resumed_config says there is none)
            holding.enter_context(hold_folder(out))
        config, meta = resumed_config(out, given)
        done = meta["epoch"]
        if done >= config.epochs:
            load_model(out / "checkpoint.npz")  # a damaged file says so, even with nothing to do
            print(f"{out} already holds {done} epochs; nothing to train (ask for more with "
                  "--epochs)")
            return 0
        config.check()
        full = load_dataset(config.dataset, config.data_dir)
    else:
        config = TrainConfig(**given)
        if "gaussian_std" in given and config.likelihood != "gaussian":
            raise ValueError("--gaussian-std is an option of --likelihood gaussian")
        if "log_std_scale" in given and not (config.likelihood == "gaussian" and isinstance(
                config.gaussian_std, str)):
            raise ValueError("--log-std-scale is an option of a learned std (--likelihood "
                             "gaussian, --gaussian-std learned or learned-per-dim)")
        fill_model_defaults(config, given)  # --model's own options
        config.check()
        if args.out:
            check_out_folder(Path(args.out))
        full = training_data(config, given)  # before anything is written
        if args.out:
            out = Path(args.out)
            holding.enter_context(hold_folder(out))  # one run per folder; then the check, which
            check_out_folder(out)  # no other run can race
        else:
            out, held = new_run_folder(Path("runs") / config.dataset)
            holding.enter_context(held)
        if not args.out and out.name != config.dataset:
            print(f"runs/{config.dataset} holds a run: this one goes to {out}")
        meta = {"history": []}
    checkpoint = out / "checkpoint.npz"
    data, X_val, y_val, standardizer = run_data(config, full)
    if config.patience is not None and X_val is None:
        raise ValueError(f"--patience watches the validation loss, but --val-fraction "
                         f"{config.val_fraction:g} of {len(full.X_train):,} training images "
                         "holds none: raise --val-fraction")
    config.image_shape = tuple(data.image_shape)
    model = build_model(config, training_model(config, data, full), len(data.X_train))
    out.mkdir(parents=True, exist_ok=True)
    settings = json.dumps(asdict(config), indent=1)
    if not args.resume:  # a resumed run's new --epochs only once an epoch of them is done
        write_text_atomically(out / "config.json", settings)
    print(describe_run(config, model, data, X_val, out))
    history = list(meta["history"])

    def report_epoch(record, model):
        history.append(record)
        write_history(out, history)
        if args.resume:
            write_text_atomically(out / "config.json", settings)
        print(epoch_line(record, config), flush=True)
        if Terminated.requested:  # a SIGTERM whose exception was lost
            raise Terminated()

    try:
        history = fit(model, data.X_train, config.epochs, config.batch_size, config.lr,
                      binarize_mode=config.binarize, warmup_epochs=config.warmup,
                      checkpoint_path=checkpoint, resume=args.resume,
                      train_config=asdict(config),
                      progress=not args.quiet and sys.stderr.isatty(), callback=report_epoch,
                      y_train=labels_for(model, data.y_train), engine=config.engine,
                      X_val=X_val, y_val=None if y_val is None else labels_for(model, y_val),
                      patience=config.patience, lr_schedule=config.lr_schedule,
                      kl_cycles=config.kl_cycles)
    except TrainingDiverged as error:  # (--resume would take the same steps again)
        raise TrainingDiverged(f"{error} (in a new run: --resume would repeat the same "
                               "steps)") from None
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
    if not history:
        return 0
    untrained = float(read_checkpoint(checkpoint)[0]["fit_arrays"].get("untrained_loss", np.inf))
    kept = history[-1]  # the model's epoch (with early stopping, the best that was not bad)
    if config.patience is not None:
        kept = history[-1 - epochs_without_progress(history, untrained)]
        print(early_stopping_line(history, config, kept))
    X_test = test_targets(data.X_test, config.binarize)
    y_test = labels_for(model, data.y_test)
    test = evaluate(model, X_test, y=y_test)  # the test set, once, at the end
    history[-1].update(test_loss=test["loss"], test_reconstruction=test["reconstruction"],
                       test_kl=test["kl"])
    write_history(out, history)
    print(f"test negative ELBO {test['loss']:.3f} nats per example (reconstruction "
          f"{test['reconstruction']:.3f}, KL {test['kl']:.3f}), {len(X_test)} images"
          + data_units(test["loss"], standardizer))
    line, warning = collapse_report(kl_per_dimension(model, X_test, y=y_test), config)
    print(line)
    worse = kept["train_loss"] > limit(untrained, WORSE_THAN_UNTRAINED)
    if model.nll.params:  # a learned standard deviation of p(x | z), beside its optimum
        print(learned_std_line(model, X_test, y_test, hint=not worse))
    if worse:  # not divergence by fit's rule, but nothing learnt either
        warning = (f"the model's epoch ({kept['epoch']}) had a mean negative ELBO of "
                   f"{kept['train_loss']:.4g} nats per example, worse than the untrained "
                   f"model's {untrained:.4g}: the learning rate is probably too large (or, if "
                   "the loss barely moved, too small)")
    if warning:
        print(f"npvae train: warning: {warning}", file=sys.stderr)
    shown = (lambda X: X) if standardizer is None else standardizer.inverse
    save_figure(samples_figure(model, config, shown=shown), out / "samples.png")
    save_figure(reconstruction_figure(model, X_test[:16], data.y_test[:16], config, shown),
                out / "reconstructions.png")
    beta_name = "beta (the total correlation's weight)" if config.model == "tcvae" else "beta"
    save_figure(plots.loss_curves(history, beta_name), out / "loss.png")
    print(next_commands(out, config, stopped_early=len(history) < config.epochs))
    return 0


def training_model(config, data, full):
    """The VAE the options describe, for the data's width (and classes, if conditional)."""
    n_classes = int(full.y_train.max()) + 1 if config.conditional else 0
    return VAE(data.X_train.shape[1], config.hidden, config.latent_dim, config.likelihood,
               config.beta, np.dtype(config.dtype), config.seed, activation=config.activation,
               gaussian_std=config.gaussian_std, n_classes=n_classes,
               decoder_hidden_dims=config.decoder_hidden, free_bits=config.free_bits,
               log_std_scale=config.log_std_scale, objective=config.objective, k=config.k,
               kl=config.kl, gradient=config.gradient)


def describe_run(config, model, data, X_val, out):
    """The line ``npvae train`` starts with: data, sizes, model, run folder."""
    held_out = "" if config.holdout_class is None else f" (class {config.holdout_class} held out)"
    validation = "" if X_val is None else f", {len(X_val)} validation"
    decoder = model.decoder_hidden_dims
    sizes = "-".join(map(str, (model.input_dim, *config.hidden, config.latent_dim)))
    if decoder is not None:
        sizes += " (decoder " + "-".join(map(str, (config.latent_dim, *decoder,
                                                  model.input_dim))) + ")"
    kind = "" if config.model == "vae" else ", " + config.model
    if model.monte_carlo:
        kind += (f", IWAE bound with k = {model.k}" if model.objective == "iwae" else
                 ", Monte Carlo KL") + f" ({model.gradient} gradient)"
    return (f"training {config.dataset}: {len(data.X_train)} train{validation}, "
            f"{len(data.X_test)} test images{held_out}; {sizes}"
            f"{', conditional' if model.n_classes else ''}{kind}, {len(model.params):,} "
            f"parameters; run folder {out}")


# A run whose model is worse than the untrained one by more than this share of its loss ends
# with a warning (the two are measured with different noise: a model that learnt nothing sits
# within 1% of it).
WORSE_THAN_UNTRAINED = 0.05


def learned_std_line(model, X, y, hint=True):
    """The learned std of p(x | z) and the one that would maximise the ELBO of X for this
    encoder and decoder (``optimal_gaussian_std``), with a hint if the first lags."""
    std = np.exp(np.ravel(model.nll.log_std()))
    best = np.atleast_1d(optimal_gaussian_std(model, X, per_dim=len(std) > 1, y=y))
    line = (f"learned std of p(x | z): {std[0]:.4g}; for this decoder the test ELBO is highest "
            f"at {best[0]:.4g} (the root mean squared error)" if len(std) == 1 else
            f"learned std of p(x | z), per dimension: from {std.min():.4g} to {std.max():.4g}, "
            f"mean {std.mean():.4g}; for this decoder the test ELBO is highest at a mean of "
            f"{best.mean():.4g} (each dimension's root mean squared error)")
    if hint and not 0.8 <= std.mean() / best.mean() <= 1.25:
        line += (". The learned std has not caught up: train longer, or raise --log-std-scale "
                 f"({model.log_std_scale:g})")
    return line


def epoch_line(record, config):
    """One epoch's line: the training loss and its parts, the validation loss, the schedule."""
    line = (f"epoch {record['epoch']:3d}/{config.epochs}  train {record['train_loss']:8.3f} "
            f"(rec {record['train_reconstruction']:8.3f}, kl {record['train_kl']:6.3f})")
    if "train_bound" in record:  # the bound trained on, minus: below train's -ELBO
        line += f" bound {record['train_bound']:8.3f}"
    if "val_loss" in record:
        line += (f"  val {record['val_loss']:8.3f} (rec {record['val_reconstruction']:8.3f}, "
                 f"kl {record['val_kl']:6.3f})")
    if "discriminator_loss" in record:  # factorvae: is the adversary keeping up?
        line += (f"  disc CE {record['discriminator_loss']:.3f} acc "
                 f"{record['discriminator_accuracy']:.3f} TC {record['tc_estimate']:.2f}")
    if config.warmup or config.kl_cycles:
        line += f"  beta {record['beta']:.3g}"
    if config.lr_schedule != "none":
        line += f"  lr {record['lr']:.3g}"
    return line + f"  {record['seconds']:.1f} s"


def early_stopping_line(history, config, best):
    """What early stopping did: where it stopped, and which epoch's weights the model has
    (``best``, its record: the lowest validation loss of an epoch that was not bad)."""
    last = history[-1]["epoch"]
    stopped = (f"stopped after epoch {last}: {config.patience} epoch"
               f"{'s' * (config.patience != 1)} without a lower validation loss"
               if last < config.epochs else f"trained all {last} epochs")
    return (f"early stopping: {stopped}; the model is epoch {best['epoch']}'s (validation loss "
            f"{best['val_loss']:.3f}, the lowest)")


KL_THRESHOLD = 0.1  # nats: a latent dimension carrying less has collapsed onto the prior


def collapse_report(per_dim, config, threshold=KL_THRESHOLD):
    """(a line: how many latent dimensions carry more than ``threshold`` nats on the test set,
    a warning if none does, else None)."""
    used = int((per_dim > threshold).sum())
    line = (f"latent dimensions carrying more than {threshold:g} nats: {used} of {len(per_dim)} "
            f"(KL {per_dim.sum():.2f} nats in all)")
    if used:
        return line, None
    fixed_std = config.likelihood == "gaussian" and not isinstance(config.gaussian_std, str)
    if fixed_std:
        hint = (f"a fixed --gaussian-std {config.gaussian_std:g} may be too large for the data "
                "(try --gaussian-std learned)")
    elif config.conditional:
        hint = "with --conditional, the label carries much of what the code would"
    elif config.kl == "monte-carlo":  # free bits floor the closed-form KL, which this has not
        hint = "a KL warm-up (--warmup E) often keeps dimensions in use"
    else:
        hint = "--free-bits keeps each dimension's KL at a floor (npvae train --help)"
    return line, (f"the posterior collapsed onto the prior: no latent dimension carries more "
                  f"than {threshold:g} nats ({per_dim.sum():.2f} in all); {hint}")
