"""The ``npvae`` command line: train, evaluate, sample, reconstruct, interpolate, latent,
gradcheck.

A run folder (``--out`` of train, ``--run`` of the others) holds:
    checkpoint.npz   parameters, optimizer and Generator state, history, configuration
    config.json      the training options (the same as in the checkpoint, for people to read)
    history.json, history.csv   one record per epoch
    *.png            figures
Errors in what a user typed or pointed at print one line on stderr and exit with status 2.
"""

import argparse
import csv
import io
import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from statistics import NormalDist

import numpy as np

from .checks import (BROKEN, Section, broken, load_object, make_layer, optimizer_rows, report,
                     standard_sections, user_layer_rows)
from .checkpoint import CheckpointError, load_model, read_checkpoint, write_text_atomically
from .data import DATASETS, DataError, load_dataset
from .train import BINARIZE, TrainingDiverged, evaluate, fit, test_targets
from .vae import LIKELIHOODS, VAE


@dataclass
class TrainConfig:
    dataset: str = "mnist"  # mnist, fashion-mnist or digits (bundled, no network)
    data_dir: str = None  # a folder of MNIST-format IDX files, instead of downloading
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
    image_shape: tuple = None  # (height, width), filled in from the data set

    def check(self):
        positive = [("epochs", self.epochs), ("batch-size", self.batch_size),
                    ("latent-dim", self.latent_dim)] + [("hidden", h) for h in self.hidden]
        for name, value in positive:
            if value < 1:
                raise ValueError(f"--{name} must be at least 1; got {value}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0; got {self.lr}")
        if not self.beta >= 0:
            raise ValueError(f"--beta must be >= 0; got {self.beta}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be >= 0; got {self.warmup}")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2, as argparse does)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_run(parser):
    parser.add_argument("--run", required=True, help="a run folder written by 'npvae train'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")


def build_parser():
    parser = Parser(prog="npvae", description="A variational autoencoder in NumPy.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    d = TrainConfig()

    train = commands.add_parser("train", help="train a VAE and write a run folder")
    train.add_argument("--dataset", choices=DATASETS, default=d.dataset)
    train.add_argument("--data-dir", help="folder of MNIST-format IDX files (no download)")
    train.add_argument("--epochs", type=int, default=d.epochs)
    train.add_argument("--batch-size", type=int, default=d.batch_size)
    train.add_argument("--lr", type=float, default=d.lr)
    train.add_argument("--hidden", type=int, nargs="*", default=list(d.hidden))
    train.add_argument("--latent-dim", type=int, default=d.latent_dim)
    train.add_argument("--beta", type=float, default=d.beta)
    train.add_argument("--likelihood", choices=LIKELIHOODS, default=d.likelihood)
    train.add_argument("--binarize", choices=BINARIZE, default=d.binarize)
    train.add_argument("--warmup", type=int, default=d.warmup, help="epochs of KL warm-up")
    train.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype)
    train.add_argument("--seed", type=int, default=d.seed)
    train.add_argument("--out", help="run folder (default runs/<dataset>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out with its saved settings up to --epochs")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    for name, func, text in (("sample", cmd_sample, "decode draws from the prior"),
                             ("reconstruct", cmd_reconstruct, "test images and reconstructions"),
                             ("interpolate", cmd_interpolate, "latent interpolation strips"),
                             ("latent", cmd_latent, "the test set in latent space"),
                             ("evaluate", cmd_evaluate, "test negative ELBO and its parts")):
        sub = commands.add_parser(name, help=text)
        _add_run(sub)
        sub.set_defaults(func=func)
        if name in ("sample", "reconstruct"):
            sub.add_argument("--n", type=int, default=64 if name == "sample" else 16,
                             help="how many images")
        if name == "interpolate":
            sub.add_argument("--pairs", type=int, default=6)
            sub.add_argument("--steps", type=int, default=10)
    check = commands.add_parser("gradcheck", help="check every gradient against finite differences")
    check.add_argument("--seed", type=int, default=0, help="seed of the inputs and noise")
    check.add_argument("--broken", choices=sorted(BROKEN),
                       help="run the checks on a deliberately wrong formula, to see a failure")
    check.add_argument("--layer", metavar="MODULE:CLASS",
                       help="check your own layer class (module or path/to/file.py)")
    check.add_argument("--inputs", type=int, default=5, help="input width for --layer")
    check.add_argument("--outputs", type=int, default=4,
                       help="output width for --layer, if its class takes (inputs, outputs)")
    check.add_argument("--optimizer", metavar="MODULE:CLASS",
                       help="check your own Adam's first two steps")
    check.set_defaults(func=cmd_gradcheck)
    return parser


# ---- run folders -------------------------------------------------------------------------------

def save_figure(fig, path):
    """Save a figure as PNG through a temporary file and a rename, then close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    print(f"wrote {path}")


def write_history(folder, history):
    write_text_atomically(folder / "history.json", json.dumps(history, indent=1))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(history[-1]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomically(folder / "history.csv", text.getvalue())


def open_run(folder):
    """The model, training config and data of a run folder (CheckpointError if it has none)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a run folder (no such folder)")
    model, meta = load_model(folder / "checkpoint.npz")
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in (meta.get("train") or {}).items() if k in names})
    return model, config


def test_set(config):
    data = load_dataset(config.dataset, config.data_dir)
    return test_targets(data.X_test, config.binarize), data.y_test


def check_count(name, value):
    if value < 1:
        raise ValueError(f"--{name} must be at least 1; got {value}")


# ---- commands ----------------------------------------------------------------------------------

def cmd_train(args):
    from . import plots

    out = Path(args.out or f"runs/{args.dataset}")
    checkpoint = out / "checkpoint.npz"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if args.resume:
        if not checkpoint.exists():
            raise CheckpointError(f"--resume: {out} holds no checkpoint.npz to resume")
        saved = read_checkpoint(checkpoint)[0].get("train") or {}
        config = TrainConfig(**{**saved, "epochs": args.epochs})
    else:
        if checkpoint.exists():
            raise ValueError(f"{out} already holds a run; pass --resume to continue it, "
                             "or choose another --out")
        config = TrainConfig(args.dataset, args.data_dir, args.epochs, args.batch_size, args.lr,
                             tuple(args.hidden), args.latent_dim, args.beta, args.likelihood,
                             args.binarize, args.warmup, args.dtype, args.seed)
    config.hidden = tuple(config.hidden)
    config.check()
    data = load_dataset(config.dataset, config.data_dir)  # before anything is written
    config.image_shape = tuple(data.image_shape)
    model = VAE(data.X_train.shape[1], config.hidden, config.latent_dim, config.likelihood,
                config.beta, np.dtype(config.dtype), config.seed)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "config.json", json.dumps(asdict(config), indent=1))
    print(f"training {config.dataset}: {len(data.X_train)} train, {len(data.X_test)} test "
          f"images; {model.input_dim}-{'-'.join(map(str, config.hidden))}-{config.latent_dim}, "
          f"{len(model.params):,} parameters; run folder {out}")

    def report(history):
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
                      progress=not args.quiet and sys.stderr.isatty(),
                      callback=report)
    except KeyboardInterrupt:
        print(f"npvae train: interrupted; {checkpoint} keeps the last completed epoch "
              "(continue with --resume)", file=sys.stderr)
        return 130
    if not history:
        return 0
    side = 8 if config.image_shape[0] > 10 else 10
    save_figure(plots.image_grid(model.sample(side * side, random_state=0), config.image_shape,
                                 side, f"Samples from the prior ({config.dataset})"),
                out / "samples.png")
    X_test = test_targets(data.X_test, config.binarize)
    save_figure(reconstruction_figure(model, X_test[:16], config), out / "reconstructions.png")
    save_figure(plots.loss_curves(history), out / "loss.png")
    return 0


def reconstruction_figure(model, X, config):
    from . import plots

    n = len(X)
    images = np.concatenate([X, model.reconstruct(X)])
    return plots.image_grid(images, config.image_shape, n, f"Test images (top) and their "
                            f"reconstructions (bottom), {config.dataset}",
                            row_labels=["data", "recon."])


def cmd_sample(args):
    from . import plots

    check_count("n", args.n)
    model, config = open_run(args.run)
    cols = int(np.ceil(np.sqrt(args.n)))
    fig = plots.image_grid(model.sample(args.n, random_state=args.seed), config.image_shape,
                           cols, f"{args.n} samples from the prior ({config.dataset})")
    save_figure(fig, Path(args.run) / "samples.png")
    return 0


def cmd_reconstruct(args):
    check_count("n", args.n)
    model, config = open_run(args.run)
    X_test, _ = test_set(config)
    save_figure(reconstruction_figure(model, X_test[:args.n], config),
                Path(args.run) / "reconstructions.png")
    return 0


def cmd_interpolate(args):
    from . import plots

    check_count("pairs", args.pairs)
    check_count("steps", args.steps)
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    # pairs of test images of different classes: the first image of class i and of class i + 1
    firsts = [np.flatnonzero(y_test == c)[0] for c in np.unique(y_test)]
    pairs = [(firsts[i % len(firsts)], firsts[(i + 1) % len(firsts)]) for i in range(args.pairs)]
    mu, _ = model.encode(X_test[np.ravel(pairs)])
    start, end = mu[0::2], mu[1::2]  # (P, K) each
    t = np.linspace(0, 1, args.steps, dtype=model.dtype)[None, :, None]  # (1, S, 1)
    z = (1 - t) * start[:, None, :] + t * end[:, None, :]  # (P, S, K)
    images = model.decode(z.reshape(-1, model.latent_dim))
    labels = [f"{y_test[a]}→{y_test[b]}" for a, b in pairs]
    fig = plots.image_grid(images, config.image_shape, args.steps,
                           f"Interpolating between posterior means ({config.dataset})",
                           row_labels=labels)
    save_figure(fig, Path(args.run) / "interpolation.png")
    return 0


def cmd_latent(args):
    from sklearn.decomposition import PCA

    from . import plots

    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    mu, _ = model.encode(X_test)
    if model.latent_dim > 2:
        pca = PCA(2).fit(mu)
        points, xlabel, ylabel = pca.transform(mu), "PC 1", "PC 2"
        title = (f"Test-set posterior means, PCA of {model.latent_dim}-D latents "
                 f"({pca.explained_variance_ratio_.sum():.0%} of variance)")
    else:
        points = mu if model.latent_dim == 2 else np.column_stack([mu[:, 0], np.zeros(len(mu))])
        xlabel, ylabel = "z1", "z2"
        title = f"Test-set posterior means ({config.dataset})"
    save_figure(plots.latent_scatter(points, y_test, title, xlabel, ylabel),
                Path(args.run) / "latent.png")
    if model.latent_dim == 2:  # Kingma & Welling's figure 4: decode a grid of prior quantiles
        side = 15
        q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, side)])
        z = np.array([[a, b] for b in q[::-1] for a in q])  # rows: z2 from high to low
        save_figure(plots.image_grid(model.decode(z), config.image_shape, side,
                                     "Decoded latent grid (Gaussian quantiles 0.05 to 0.95)"),
                    Path(args.run) / "manifold.png")
    return 0


def cmd_evaluate(args):
    model, config = open_run(args.run)
    X_test, _ = test_set(config)
    result = evaluate(model, X_test, random_state=args.seed)
    print(f"test negative ELBO {result['loss']:.3f} nats per example "
          f"(reconstruction {result['reconstruction']:.3f}, KL {result['kl']:.3f}), "
          f"{len(X_test)} images of {config.dataset}")
    return 0


def cmd_gradcheck(args):
    """Exit status 0 when every check passes, 1 when one fails (2 for bad input, as elsewhere)."""
    check_count("inputs", args.inputs)
    check_count("outputs", args.outputs)
    if args.layer or args.optimizer:
        sections = []
        if args.layer:
            layer_class = load_object(args.layer)
            try:
                layer = make_layer(layer_class, args.inputs, args.outputs)
                rows = user_layer_rows(layer, args.inputs, args.seed)
            except TypeError as error:
                raise ValueError(str(error)) from None
            except Exception as error:  # the user's own code failed: one line, exit 2
                raise ValueError(f"{args.layer} raised {type(error).__name__}: {error}") from None
            sections.append(Section(f"{args.layer} (your layer)", rows))
        if args.optimizer:
            rows = optimizer_rows(load_object(args.optimizer))
            sections.append(Section(f"{args.optimizer}: Adam's first two steps", rows, tol=1e-10))
    elif args.broken:
        print(f"BROKEN on purpose ({args.broken}): {BROKEN[args.broken][2]}\n")
        with broken(args.broken):
            sections = standard_sections(args.seed)
    else:
        sections = standard_sections(args.seed)
    text, passed = report(sections)
    print(text)
    return 0 if passed else 1


def main(argv=None):
    """Entry point of the ``npvae`` command; returns the exit status."""
    import matplotlib

    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, TrainingDiverged) as error:  # DataError, CheckpointError too
        print(f"npvae {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
