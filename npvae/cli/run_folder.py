"""Run folders: what ``npvae train`` writes and the other commands read.

    checkpoint.npz   parameters, optimizer and Generator state, history, configuration
    config.json      the training options (the same as in the checkpoint, for people to read)
    history.json, history.csv   one record per epoch
    *.png            figures
"""

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..data.catalog import load_dataset
from ..data.dataset import Dataset
from ..evaluation.elbo import change_of_variables
from ..models.registry import load_model
from ..models.importance import DEFAULT_DRAWS, MAX_DRAWS
from ..models.vae import MAX_FREE_BITS, MAX_LOG_STD_SCALE
from ..nn.checkpoint import CheckpointError
from ..training.fit import test_targets
from ..utils.files import atomic_file, save_npz_atomically, write_text_atomically
from ..utils.validation import check_weight


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # mnist, fashion-mnist, mnist-t10k (shipped), digits; or a label
    data_dir: str = None  # a folder of MNIST-format IDX files instead of a download (absolute)
    epochs: int = 10  # total epochs; a resumed run goes on until it has this many
    batch_size: int = 128
    lr: float = 1e-3  # Adam's learning rate
    hidden: tuple = (400, 400)  # hidden layer sizes of the encoder (reversed in the decoder)
    latent_dim: int = 20
    decoder_hidden: tuple = None  # hidden layer sizes of the decoder (None: hidden reversed)
    activation: str = "relu"  # or tanh, after every hidden layer
    beta: float = 1.0  # weight of the KL term (1: the ELBO)
    likelihood: str = "bernoulli"  # or gaussian, for real-valued data
    gaussian_std: object = "learned"  # gaussian: learned, learned-per-dim, or a fixed number
    log_std_scale: float = 10.0  # a learned std's log is stored divided by this (Adam's speed)
    standardize: bool = False  # gaussian: train on (x - mean) / std of the training images
    binarize: str = "none"  # none (grey-level targets), static or dynamic
    warmup: float = 0  # epochs of KL warm-up, step by step (beta rising from beta / steps)
    kl_cycles: int = 0  # cyclical KL schedule (Fu et al. 2019): this many cycles, or none
    free_bits: float = 0.0  # nats: each latent dimension's batch-mean KL counts at least this
    val_fraction: float = 0.1  # of the training images, held out to validate each epoch
    patience: int = None  # early stopping: epochs without a lower validation loss
    lr_schedule: str = "none"  # or cosine, plateau
    dtype: str = "float32"
    seed: int = 0
    conditional: bool = False  # a conditional VAE: the one-hot label goes in with x and z
    holdout_class: int = None  # leave this class out of training (anomaly detection)
    engine: str = "fast"  # fast (two cores) or reference (npvae/reference.py, plain and slow)
    image_shape: tuple = None  # (height, width), filled in from the data set
    model: str = "vae"  # vae, tcvae (beta-TCVAE) or factorvae (npvae.cli.disentangling)
    alpha: float = None  # tcvae: weight of the mutual information (default 1)
    gamma: float = None  # tcvae: of the dimension-wise KL (1); factorvae: of the TC (10)
    estimator: str = None  # tcvae: mss or mws
    disc_lr: float = None  # factorvae: the discriminator's Adam learning rate (1e-3)
    disc_hidden: tuple = None  # factorvae: the discriminator's hidden sizes (256 256)
    objective: str = "elbo"  # or iwae: the importance-weighted bound with k draws per image
    k: int = None  # iwae: draws per image (1 for the elbo, 5 for iwae when not given)
    kl: str = None  # analytic (the elbo's default) or monte-carlo (the iwae's only choice)
    gradient: str = "reparam"  # the encoder's gradient estimator: reparam, stl or dreg

    def check(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"--dtype must be float32 or float64; got {self.dtype!r}")
        positive = [("epochs", self.epochs), ("batch-size", self.batch_size),
                    ("latent-dim", self.latent_dim)] + [("hidden", h) for h in self.hidden] + [
            ("decoder-hidden", h) for h in self.decoder_hidden or ()] + [
            ("disc-hidden", h) for h in self.disc_hidden or ()]
        for name, value in positive:
            if value < 1:
                raise ValueError(f"--{name} must be at least 1; got {value}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr must be a finite number > 0; got {self.lr}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0; got {self.seed}")
        check_weight("--beta", self.beta)
        if not 0 < self.log_std_scale <= MAX_LOG_STD_SCALE:  # NaN too
            raise ValueError(f"--log-std-scale must be a finite number > 0, at most "
                             f"{MAX_LOG_STD_SCALE:,}; got {self.log_std_scale}")
        if self.disc_lr is not None and not (np.isfinite(self.disc_lr) and self.disc_lr > 0):
            raise ValueError(f"--disc-lr must be a finite number > 0; got {self.disc_lr}")
        for name in ("warmup", "free_bits"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a finite number >= 0; got "
                                 f"{getattr(self, name)}")
        if self.free_bits > MAX_FREE_BITS:
            raise ValueError(f"--free-bits must be at most {MAX_FREE_BITS:,} nats; got "
                             f"{self.free_bits}")
        if self.kl_cycles < 0:
            raise ValueError(f"--kl-cycles must be >= 0; got {self.kl_cycles}")
        if self.kl_cycles and self.warmup:
            raise ValueError("--warmup and --kl-cycles are two KL schedules: choose one")
        if not 0 <= self.val_fraction <= 0.5:
            raise ValueError(f"--val-fraction must lie in [0, 0.5]; got {self.val_fraction}")
        if self.patience is not None and not self.val_fraction:
            raise ValueError("--patience stops on the validation loss: it needs --val-fraction "
                             "above 0")
        if self.likelihood != "gaussian" and self.standardize:
            raise ValueError("--standardize is an option of --likelihood gaussian")
        self.check_objective()
        if self.engine == "reference" and (self.likelihood != "bernoulli" or self.conditional
                                           or self.activation != "relu" or self.free_bits):
            raise ValueError("--engine reference trains the VAE of npvae/reference.py: Bernoulli "
                             "likelihood, ReLU, no labels, no free bits (not --likelihood "
                             "gaussian, --activation tanh, --conditional or --free-bits)")


    def check_objective(self):
        """--objective, --k, --kl and --gradient: what ``npvae.models.importance``
        checks, in the command line's words; fills in --kl's default."""
        if self.kl is None:
            self.kl = "analytic" if self.objective == "elbo" else "monte-carlo"
        if self.k is None:
            self.k = 1 if self.objective == "elbo" else DEFAULT_DRAWS
        if self.objective == "elbo" and self.k != 1:
            raise ValueError("--k draws per image make the IWAE bound: add --objective iwae")
        if not 1 <= self.k <= MAX_DRAWS:
            raise ValueError(f"--k must be from 1 to {MAX_DRAWS:,}; got {self.k}")
        if self.objective == "iwae" and self.kl == "analytic":
            raise ValueError("--objective iwae estimates its KL part from the draws: it has no "
                             "--kl analytic")
        if self.gradient != "reparam" and self.kl == "analytic":
            raise ValueError(f"--gradient {self.gradient} needs the KL estimated from the "
                             "draws: add --objective iwae (or --kl monte-carlo)")
        if self.kl == "monte-carlo" and (self.model != "vae" or self.free_bits):
            raise ValueError("--objective iwae and --kl monte-carlo train a plain --model vae "
                             "without --free-bits")


MAX_IMAGES, MAX_COLUMNS, MAX_ROWS = 400, 40, 40  # what one figure holds


def check_at_most(name, value, limit, what):
    if value is not None and value > limit:
        raise ValueError(f"--{name} must be at most {limit}; got {value} (a figure holds at most "
                         f"{limit} {what})")


def save_figure(fig, path):
    """Save a figure as PNG through a temporary file and a rename, then close it."""
    import matplotlib.pyplot as plt

    replaced = Path(path).exists()
    try:
        with atomic_file(path) as f:
            fig.savefig(f, format="png", dpi=110, bbox_inches="tight", pad_inches=0.1)
    finally:
        plt.close(fig)
    print(f"wrote {path}" + (" (it replaces the earlier one)" if replaced else ""))


def write_history(folder, history):
    write_text_atomically(folder / "history.json", json.dumps(history, indent=1))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[-1]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomically(folder / "history.csv", text.getvalue())


PER_EXAMPLE_SUFFIXES = (".csv", ".npz")


def check_per_example_path(path):
    """--per-example's file, checked before any work: a .csv or .npz in a folder that exists,
    new or written by an earlier --per-example (never a checkpoint, a history or a file of the
    user's)."""
    path = Path(path)
    if path.suffix not in PER_EXAMPLE_SUFFIXES:
        raise ValueError(f"--per-example writes a .csv or an .npz file; got {str(path)!r}")
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise ValueError(f"--per-example {path}: {path.parent} {what}")
    if path.is_dir():
        raise ValueError(f"--per-example {path} is a folder; name a .csv or .npz file")
    if path.is_symlink():
        raise ValueError(f"--per-example {path} is a symbolic link: writing would replace it; "
                         "name the file itself, or another")
    if path.exists() and not is_per_example_table(path):
        raise ValueError(f"--per-example {path} exists and is not a table an earlier "
                         "--per-example wrote: it would be overwritten; name another file")
    return path


# The columns npvae's per-example tables have (evaluate, latent, anomaly); mu_k and logvar_k too
PER_EXAMPLE_COLUMNS = {"set", "index", "label", "neg_elbo", "reconstruction", "kl", "iwae_nll",
                       "neg_elbo_own_units", "iwae_nll_own_units", "squared_error", "held_out",
                       "iwae", "code_length", "compressed", "complexity", "regret"}


def is_per_example_table(path):
    """Whether ``path`` has the layout ``write_per_example`` writes: first 'index' (or 'set'
    then 'index'), and only the columns npvae's commands write."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                names = f.files
        else:
            with open(path, newline="") as f:
                names = next(csv.reader(f), [])
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile, csv.Error):
        return False
    ours = all(name in PER_EXAMPLE_COLUMNS or re.fullmatch(r"(mu|logvar)_\d+", name)
               for name in names)
    scored = any(name not in ("set", "index", "label", "held_out") for name in names)
    return ours and scored and (names[:1] == ["index"] or names[:2] == ["set", "index"])


def write_per_example(path, columns):
    """One row per example: ``columns`` maps a name to an (N,) array (the same N for all). A
    .csv gets a header and N rows; an .npz one array per column (``np.load`` reads it without
    pickle, strings included). Written atomically."""
    path = check_per_example_path(path)
    columns = {name: np.asarray(values) for name, values in columns.items()}
    if path.suffix == ".npz":
        save_npz_atomically(path, **columns)
    else:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(columns)
        writer.writerows(zip(*(values.tolist() for values in columns.values())))
        write_text_atomically(path, text.getvalue())
    names = list(columns)
    shown = ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:3])}, ..., {names[-1]}"
    print(f"wrote {path} ({len(columns[names[0]])} rows; {len(names)} columns: {shown})")


def latent_columns(mu, logvar):
    """mu_0 ... mu_{K-1}, logvar_0 ... as columns for ``write_per_example``."""
    return {**{f"mu_{k}": mu[:, k] for k in range(mu.shape[1])},
            **{f"logvar_{k}": logvar[:, k] for k in range(logvar.shape[1])}}


def open_run(folder):
    """The model and training config of a run folder (CheckpointError if it has none)."""
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"{folder} is a file, not a run folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a run folder (no such folder)")
    path = folder / "checkpoint.npz"
    model, meta = load_model(path)
    config = saved_config(meta, path)
    shape = config.image_shape
    if shape is None or shape[0] * shape[1] != model.input_dim:
        raise CheckpointError(f"{path}: its training options are damaged (image_shape = "
                              f"{shape!r} for a model of {model.input_dim} inputs)")
    return model, config


# Options newer than some runs, and the value a run saved without them had
ADDED_LATER = {"val_fraction": 0.0, "log_std_scale": 10.0, "objective": "elbo", "k": 1,
               "kl": "analytic", "gradient": "reparam"}
ADDED_LATER_FACTORVAE = {"disc_lr": 1e-4, "disc_hidden": [256, 256]}  # (then the only choice)


def saved_config(meta, path="the checkpoint"):
    """The TrainConfig a checkpoint's metadata holds; CheckpointError if a value has the wrong
    type (a hand-edited file)."""
    if not isinstance(meta.get("train"), dict):
        raise CheckpointError(f"{path} holds no training options (a model file, or damaged): "
                              "'npvae train' writes run folders")
    types = {f.name: f.type for f in fields(TrainConfig)}
    saved = {**ADDED_LATER, **meta["train"]}
    if saved.get("model") == "factorvae":
        saved = {**ADDED_LATER_FACTORVAE, **saved}
    for name, value in saved.items():
        if name in types and not _has_type(value, types[name], name):
            raise CheckpointError(f"{path}: its training options are damaged ({name} = "
                                  f"{value!r})")
    config = TrainConfig(**{k: v for k, v in saved.items() if k in types})
    config.hidden = tuple(config.hidden)
    for name in ("decoder_hidden", "disc_hidden"):
        if getattr(config, name) is not None:
            setattr(config, name, tuple(getattr(config, name)))
    if config.image_shape is not None:
        config.image_shape = tuple(config.image_shape)
    return config


NONE_ALLOWED = {"data_dir", "decoder_hidden", "patience", "holdout_class", "image_shape",
                "alpha", "gamma", "estimator", "disc_lr", "disc_hidden"}


def _has_type(value, kind, name):
    """Whether a saved option has the type its TrainConfig field declares."""
    if value is None:
        return name in NONE_ALLOWED
    if kind is tuple:  # sizes and shapes: positive integers
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value) and (
            name != "image_shape" or len(value) == 2)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is object:  # gaussian_std: a name or a number
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def without_class(data, label):
    """The data set with one class removed from both splits (None: unchanged)."""
    if label is None:
        return data
    if label not in set(data.y_train.tolist()):
        raise ValueError(f"--holdout-class {label} is not a label of {data.name}")
    train, test = data.y_train != label, data.y_test != label
    return Dataset(data.X_train[train], data.y_train[train], data.X_test[test], data.y_test[test],
                   data.name, data.image_shape)


class Standardizer(NamedTuple):
    """x' = (x - mean) / scale, each dimension by the training images' mean and standard
    deviation (scale 1 where a dimension does not vary, as scikit-learn's StandardScaler)."""
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)

    @classmethod
    def of(cls, X):
        X64 = np.asarray(X, dtype=np.float64)
        std = X64.std(axis=0)
        return cls(X64.mean(axis=0), np.where(std > 1e-8, std, 1.0))

    def forward(self, X):
        """Standardise X (N, D), keeping its dtype."""
        return ((X - self.mean) / self.scale).astype(X.dtype)

    def inverse(self, X):
        """Back to the data's own units."""
        return (X * self.scale + self.mean).astype(X.dtype)

    def log_det(self):
        """sum_d log scale_d: what a negative log-likelihood gains in the data's own units."""
        return change_of_variables(self.scale)


class RunData(NamedTuple):
    """A run's data as it trained on it: ``data`` without the held-out class, its training
    images less the validation split (``X_val``, ``y_val``; None without one), all of it
    standardised if asked (``standardizer``, else None)."""
    data: Dataset
    X_val: np.ndarray
    y_val: np.ndarray
    standardizer: Standardizer


MAX_VALIDATION = 10_000  # images at most in the validation split


def split_validation(data, fraction):
    """The training images less a validation split of ``fraction`` of them (at most
    MAX_VALIDATION), taken at random with a fixed seed, the same for every --seed:
    (Dataset, X_val, y_val); X_val None for fraction 0."""
    n_val = min(int(round(fraction * len(data.X_train))), MAX_VALIDATION)
    if not n_val:
        return data, None, None
    if n_val >= len(data.X_train):
        raise ValueError(f"--val-fraction {fraction} leaves no training images of "
                         f"{len(data.X_train)}")
    order = np.random.default_rng(0).permutation(len(data.X_train))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    factors = None if data.factors_train is None else data.factors_train[train]
    rest = data._replace(X_train=data.X_train[train], y_train=data.y_train[train],
                         factors_train=factors)
    return rest, data.X_train[val], data.y_train[val]


def run_data(config, full=None):
    """The ``RunData`` of a run with this config (``full``: its data set, if loaded already)."""
    full = load_dataset(config.dataset, config.data_dir) if full is None else full
    data, X_val, y_val = split_validation(without_class(full, config.holdout_class),
                                          config.val_fraction)
    if not config.standardize:
        return RunData(data, X_val, y_val, None)
    if data.X_train.dtype == np.uint8:
        raise ValueError(f"--standardize needs images as floats; {config.dataset} keeps bytes")
    standardizer = Standardizer.of(data.X_train)
    data = data._replace(X_train=standardizer.forward(data.X_train),
                         X_test=standardizer.forward(data.X_test))
    X_val = None if X_val is None else standardizer.forward(X_val)
    return RunData(data, X_val, y_val, standardizer)


def test_set(config):
    """All the test images (held-out class included) as training saw them (binarized or
    standardised), and their labels."""
    full = load_dataset(config.dataset, config.data_dir)
    X_test = full.X_test
    if config.standardize:
        X_test = run_data(config, full).standardizer.forward(X_test)
    return test_targets(X_test, config.binarize), full.y_test


def display(config):
    """A function from what the model sees (data, or the decoder's means) to pixel values for a
    figure: the identity, or for a standardised run the way back to the data's units."""
    if not config.standardize:
        return lambda X: X
    return run_data(config).standardizer.inverse


def labels_for(model, y):
    """The labels to hand a model: y for a conditional one, None for a plain one."""
    return np.asarray(y) if model.n_classes else None


def data_units(loss, standardizer):
    """For a standardised run, the negative ELBO in the data's own units (text to append)."""
    if standardizer is None:
        return ""
    log_det = standardizer.log_det()
    return (f"; in the data's own units {loss + log_det:.3f} (+ sum_d log std_d = "
            f"{log_det:.3f}: the data were standardised)")
