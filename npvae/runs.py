"""Run folders: what ``npvae train`` writes and the other commands read.

    checkpoint.npz   parameters, optimizer and Generator state, history, configuration
    config.json      the training options (the same as in the checkpoint, for people to read)
    history.json, history.csv   one record per epoch
    *.png            figures
"""

import csv
import io
import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .checkpoint import CheckpointError, atomic_file, load_model, write_text_atomically
from .data import Dataset, load_dataset
from .train import test_targets


class Terminated(KeyboardInterrupt):
    """SIGTERM, what a job scheduler sends: the command line raises it in its handler, so that it
    unwinds like Ctrl-C (temporary files deleted, the last checkpoint kept)."""


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # mnist, fashion-mnist, mnist-t10k (shipped), digits; or a label
    data_dir: str = None  # a folder of MNIST-format IDX files instead of a download (absolute)
    epochs: int = 10  # total epochs; a resumed run goes on until it has this many
    batch_size: int = 128
    lr: float = 1e-3  # Adam's learning rate
    hidden: tuple = (400, 400)  # hidden layer sizes of the encoder (reversed in the decoder)
    latent_dim: int = 20
    beta: float = 1.0  # weight of the KL term (1: the ELBO)
    likelihood: str = "bernoulli"  # or gaussian, for real-valued data
    binarize: str = "none"  # none (grey-level targets), static or dynamic
    warmup: int = 0  # epochs of KL warm-up (beta rising from 0)
    dtype: str = "float32"
    seed: int = 0
    conditional: bool = False  # a conditional VAE: the one-hot label goes in with x and z
    holdout_class: int = None  # leave this class out of training (anomaly detection)
    engine: str = "fast"  # fast (two cores) or reference (npvae/reference.py, plain and slow)
    image_shape: tuple = None  # (height, width), filled in from the data set
    model: str = "vae"  # vae, tcvae (beta-TCVAE) or factorvae (npvae.disentangling_commands)
    alpha: float = None  # tcvae: weight of the mutual information (default 1)
    gamma: float = None  # tcvae: of the dimension-wise KL (1); factorvae: of the TC (10)
    estimator: str = None  # tcvae: mss or mws

    def check(self):
        positive = [("epochs", self.epochs), ("batch-size", self.batch_size),
                    ("latent-dim", self.latent_dim)] + [("hidden", h) for h in self.hidden]
        for name, value in positive:
            if value < 1:
                raise ValueError(f"--{name} must be at least 1; got {value}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr must be a finite number > 0; got {self.lr}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0; got {self.seed}")
        if not self.beta >= 0:
            raise ValueError(f"--beta must be >= 0; got {self.beta}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be >= 0; got {self.warmup}")
        if self.engine == "reference" and (self.likelihood != "bernoulli" or self.conditional):
            raise ValueError("--engine reference trains the VAE of npvae/reference.py: Bernoulli "
                             "likelihood, no labels (not --likelihood gaussian or --conditional)")


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
            fig.savefig(f, format="png", dpi=110)
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


def open_run(folder):
    """The model and training config of a run folder (CheckpointError if it has none)."""
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"{folder} is a file, not a run folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a run folder (no such folder)")
    model, meta = load_model(folder / "checkpoint.npz")
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in (meta.get("train") or {}).items() if k in names})
    return model, config


def without_class(data, label):
    """The data set with one class removed from both splits (None: unchanged)."""
    if label is None:
        return data
    if label not in set(data.y_train.tolist()):
        raise ValueError(f"--holdout-class {label} is not a label of {data.name}")
    train, test = data.y_train != label, data.y_test != label
    return Dataset(data.X_train[train], data.y_train[train], data.X_test[test], data.y_test[test],
                   data.name, data.image_shape)


def test_set(config):
    """All the test images (held-out class included) as training saw them, and their labels."""
    data = load_dataset(config.dataset, config.data_dir)
    return test_targets(data.X_test, config.binarize), data.y_test


def labels_for(model, y):
    """The labels to hand a model: y for a conditional one, None for a plain one."""
    return np.asarray(y) if model.n_classes else None
