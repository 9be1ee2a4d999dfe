"""The ``npvae`` command line: train, evaluate, sample, reconstruct, interpolate, latent, anomaly,
uncertainty, traverse, gradcheck. The parser is here; each command lives in a module of its own
in ``npvae/cli/`` (``train.py``, ``generate_commands.py``, ``evaluate.py``, ``anomaly.py``,
``disentangling.py``, ``gradcheck.py``); run folders in ``run_folder.py``.

Errors in what a user typed or pointed at print one line on stderr and exit with status 2.
"""

import argparse
import math
import os
import signal
import sys
import warnings

from ..data.catalog import DATASETS
from ..models.tcvae import ESTIMATORS
from ..models.vae import ACTIVATIONS, LIKELIHOODS
from ..nn.losses import LEARNED_STD
from ..teaching.checks import BROKEN, EXERCISES
from ..training.divergence import TrainingDiverged
from ..training.fit import BINARIZE, ENGINES
from ..training.schedules import LR_SCHEDULES
from . import anomaly as anomaly_commands
from . import disentangling as disentangling_commands
from . import evaluate as evaluate_command
from . import generate as generate_commands
from . import gradcheck as gradcheck_command
from . import train as train_command
from .disentangling import MODELS
from .run_folder import MAX_COLUMNS, MAX_IMAGES, MAX_ROWS, Terminated, TrainConfig


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2, as argparse does)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def count(text):
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def seed(text):
    """An argparse type: an integer >= 0 (a Generator's seed)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {value}")
    return value


def gaussian_std(text):
    """An argparse type: "learned", "learned-per-dim" or a number > 0."""
    if text in LEARNED_STD:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected learned, learned-per-dim or a number; got "
                                         f"{text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"a fixed standard deviation must be > 0; got {text}")
    return value


def count_up_to(limit):
    """An argparse type: an integer from 1 to ``limit`` (a bound on the work one flag asks)."""
    def bounded(text):
        value = count(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:,}; got {value:,}")
        return value
    bounded.__name__ = "integer"
    return bounded


MAX_SAMPLES = 100_000  # importance samples or posterior draws per image
MAX_WIDTH = 1_000  # of a user's layer in a gradient check (every weight is checked)

count.__name__, seed.__name__ = "integer", "integer"  # argparse: "invalid integer value: 'x'"


def option(parser, flag, default, help, shown=None, **kwargs):
    """An option whose help line ends with its default. ``shown``: the default to print, when
    ``default`` is None so that the command can tell an option given from one left out."""
    shown = default if shown is None else shown
    if isinstance(shown, (list, tuple)):
        shown = " ".join(map(str, shown)) or "(none)"
    text = f"{help} (default: {shown})" if shown is not None else help
    parser.add_argument(flag, default=default, help=text, **kwargs)


def per_example(parser, what):
    option(parser, "--per-example", None, f"also write {what}, one row per image, to FILE "
           "(.csv or .npz)", shown="off", metavar="FILE")


def build_parser():
    parser = Parser(prog="npvae", description="A variational autoencoder in NumPy.")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    d = TrainConfig()

    # train's options default to None, so that --resume can tell a flag given from one left out
    train = subcommands.add_parser("train", help="train a VAE and write a run folder")
    option(train, "--dataset", None, "mnist and fashion-mnist download once from OpenML; "
           "mnist-t10k (the MNIST test set) ships with npvae; digits with scikit-learn. Left "
           "out, mnist, or mnist-t10k when MNIST cannot be downloaded",
           shown="mnist", choices=DATASETS)
    option(train, "--data-dir", None, "a folder of MNIST-format IDX files to train on instead "
           "of a download; for the sprites, DeepMind's dSprites .npz (or its folder)",
           shown="none")
    option(train, "--epochs", None, "total epochs (with --resume: train until there are this "
           "many), at most 100,000", shown=d.epochs, type=count_up_to(100_000))
    option(train, "--batch-size", None, "examples per batch", shown=d.batch_size, type=count)
    option(train, "--lr", None, "Adam's learning rate", shown=d.lr, type=float)
    option(train, "--hidden", None, "sizes of the encoder's hidden layers (and, reversed, of "
           "the decoder's unless --decoder-hidden)", shown=d.hidden, type=count, nargs="*")
    option(train, "--decoder-hidden", None, "sizes of the decoder's hidden layers, from z to x "
           "(none given: a linear decoder)", shown="--hidden reversed", type=count, nargs="*")
    option(train, "--activation", None, "after every hidden layer", shown=d.activation,
           choices=ACTIVATIONS)
    option(train, "--latent-dim", None, "K, the latent dimensions", shown=d.latent_dim,
           type=count)
    option(train, "--model", None, "vae; tcvae, beta-TCVAE (Chen et al. 2018); factorvae, "
           "FactorVAE (Kim & Mnih 2018)", shown=d.model, choices=MODELS)
    option(train, "--beta", None, "weight of the KL term (1: the ELBO); tcvae: of the total "
           "correlation", shown="1; 6 for tcvae", type=float)
    option(train, "--alpha", None, "tcvae: weight of the index-code mutual information",
           shown=1.0, type=float)
    option(train, "--gamma", None, "tcvae: weight of the dimension-wise KL; factorvae: of the "
           "discriminator's total correlation", shown="1 for tcvae, 10 for factorvae",
           type=float)
    option(train, "--estimator", None, "tcvae: the minibatch estimate of q(z), stratified (mss) "
           "or weighted (mws) sampling", shown="mss", choices=ESTIMATORS)
    option(train, "--disc-lr", None, "factorvae: the discriminator's Adam learning rate (the "
           "paper's 1e-4 learns too slowly for a CPU run's steps)", shown=1e-3, type=float)
    option(train, "--disc-hidden", None, "factorvae: the discriminator's hidden sizes (the "
           "paper's: 1000 1000 1000 1000 1000 1000)", shown="256 256", type=count, nargs="+")
    option(train, "--likelihood", None, "bernoulli (data in [0, 1]) or gaussian",
           shown=d.likelihood, choices=LIKELIHOODS)
    option(train, "--gaussian-std", None, "gaussian: the standard deviation of p(x | z), "
           "learned (one for all pixels), learned-per-dim, or a fixed number",
           shown=d.gaussian_std, type=gaussian_std, metavar="STD")
    option(train, "--log-std-scale", None, "gaussian, learned std: its log is stored divided by "
           "this, so Adam moves it this many times faster than a weight (raise it if training "
           "ends with the learned std far above its optimum)", shown=d.log_std_scale,
           type=float)
    option(train, "--standardize", None, "gaussian: train on (x - mean) / std of the training "
           "images, per pixel; losses are also reported in the data's own units",
           shown="off", action="store_true")
    option(train, "--binarize", None, "targets: grey levels (none), one Bernoulli sample "
           "(static), or a new sample every epoch (dynamic)", shown=d.binarize, choices=BINARIZE)
    option(train, "--warmup", None, "epochs of KL warm-up (fractions allowed), beta rising "
           "step by step from beta / steps to beta", shown=d.warmup, type=float)
    option(train, "--kl-cycles", None, "instead of --warmup, a cyclical KL schedule (Fu et al. "
           "2019): M cycles, beta rising from 0 over the first half of each", shown="none",
           type=count, metavar="M")
    option(train, "--free-bits", None, "nats: each latent dimension's batch-mean KL counts as "
           "at least this (Kingma et al. 2016)", shown=d.free_bits, type=float,
           metavar="LAMBDA")
    option(train, "--val-fraction", None, "fraction of the training images held out to "
           "validate after each epoch (at most 10,000; 0: none); the test set is used once, at "
           "the end", shown=d.val_fraction, type=float)
    option(train, "--patience", None, "early stopping: stop after P epochs without a lower "
           "validation loss and keep the best epoch's weights", shown="off", type=count,
           metavar="P")
    option(train, "--lr-schedule", None, "cosine annealing over the epochs, or halving the "
           "rate when the validation loss stalls for 2 epochs (plateau)",
           shown=d.lr_schedule, choices=("none", *LR_SCHEDULES))
    option(train, "--dtype", None, "float32 (fast) or float64", shown=d.dtype,
           choices=("float32", "float64"))
    option(train, "--seed", None, "seed of the initial weights, the noise and the shuffling",
           shown=d.seed, type=seed)
    option(train, "--conditional", None, "a conditional VAE: the one-hot label goes in with x "
           "and with z", shown="off", action="store_true")
    option(train, "--holdout-class", None, "leave class C out of training (see 'npvae "
           "anomaly')", shown="none", type=int, metavar="C")
    option(train, "--engine", None, "fast: two cores, work arrays; reference: the plain "
           "functions of npvae/reference.py, one thread, to step through", shown=d.engine,
           choices=ENGINES)
    option(train, "--out", None, "the run folder", shown="runs/<dataset>")
    option(train, "--resume", False, "continue the run in --out with its saved settings",
           shown="off", action="store_true")
    option(train, "--quiet", False, "no progress bar", shown="off", action="store_true")
    train.set_defaults(func=train_command.train)

    def run_command(name, func, text):
        sub = subcommands.add_parser(name, help=text)
        sub.add_argument("--run", required=True, help="a run folder written by 'npvae train'")
        option(sub, "--seed", 0, "seed of the noise", type=seed)
        sub.set_defaults(func=func)
        return sub

    sample = run_command("sample", generate_commands.sample, "decode draws from the prior")
    option(sample, "--n", None, "how many images (a conditional run without --label: of each "
           f"class); at most {MAX_IMAGES}", shown="64, or 8 of each class",
           type=count)
    option(sample, "--label", None, "the class to draw (conditional runs)", shown="every class",
           type=int)
    reconstruct = run_command("reconstruct", generate_commands.reconstruct,
                              "test images and their reconstructions")
    option(reconstruct, "--n", 16, f"how many images, at most {MAX_COLUMNS}", type=count)
    interpolate = run_command("interpolate", generate_commands.interpolate,
                              "latent interpolation strips")
    option(interpolate, "--pairs", 6, f"how many pairs of images, at most {MAX_ROWS}",
           type=count)
    option(interpolate, "--steps", 10, f"images per strip, at most {MAX_COLUMNS}",
           type=count)
    latent = run_command("latent", generate_commands.latent, "the test set in latent space")
    per_example(latent, "each test image's label, posterior mean and log-variance")
    evaluate = run_command("evaluate", evaluate_command.evaluate_run,
                           "test ELBO, likelihood bound, KL per dimension, active units")
    option(evaluate, "--iwae-k", None, "also the importance-weighted bound on log p(x) with K "
           f"samples (at most {MAX_SAMPLES:,})", shown="off", type=count_up_to(MAX_SAMPLES),
           metavar="K")
    option(evaluate, "--au-threshold", 0.01, "a latent dimension is an active unit if the "
           "variance of its posterior mean over the test set exceeds this", type=float)
    option(evaluate, "--kl-threshold", 0.1, "and is counted as carrying information if its "
           "KL exceeds this many nats", type=float)
    option(evaluate, "--json", False, "also write what it prints to evaluation.json in the run "
           "folder", shown="off", action="store_true")
    per_example(evaluate, "each test image's label, negative ELBO, reconstruction, KL (and "
                "IWAE bound)")
    anomaly = run_command("anomaly", anomaly_commands.anomaly,
                          "anomaly scores and a threshold, or out-of-distribution detection")
    option(anomaly, "--percentile", 99.0, "threshold: this percentile of the training scores",
           type=float)
    other = anomaly.add_mutually_exclusive_group()
    option(other, "--ood-dataset", None, "score this data set's test images as "
           "out-of-distribution against the run's test set", shown="none", choices=DATASETS,
           metavar="NAME")
    option(other, "--ood-data-dir", None, "the same for the t10k IDX files in DIR (no train "
           "files needed)", shown="none", metavar="DIR")
    option(anomaly, "--iwae-k", 10, "samples of the IWAE bound in the out-of-distribution scores",
           type=count_up_to(MAX_SAMPLES), metavar="K")
    per_example(anomaly, "each test image's scores (with --ood-*: both sets' images, every "
                "score)")
    traverse = run_command("traverse", disentangling_commands.traverse,
                           "latent traversals, one row per latent dimension, sorted by KL")
    option(traverse, "--steps", 9, "images per row, at most 40", type=count)
    option(traverse, "--limit", 2.5, "each dimension goes from -LIMIT to +LIMIT (at most 100 "
           "prior standard deviations)", type=float)
    option(traverse, "--index", 0, "the test image whose posterior mean the rows start from",
           type=int)
    uncertainty = run_command("uncertainty", anomaly_commands.uncertainty,
                              "posterior spread, decoder spread, least and most likely images")
    option(uncertainty, "--samples", 100, "draws from q(z | x) for the decoder's mean and "
           f"standard deviation (2 to {MAX_SAMPLES:,})", type=count_up_to(MAX_SAMPLES),
           metavar="S")
    option(uncertainty, "--n", 8, f"how many test images in each figure, at most "
           f"{MAX_COLUMNS}", type=count)
    option(uncertainty, "--iwae-k", 10, "samples of the IWAE bound that ranks the test images",
           type=count_up_to(MAX_SAMPLES), metavar="K")

    check = subcommands.add_parser("gradcheck",
                                   help="check every gradient against finite differences")
    option(check, "--seed", 0, "seed of the inputs and noise", type=seed)
    option(check, "--broken", None, "run the checks on a deliberately wrong formula, to see a "
           "failure", shown="none", choices=sorted(BROKEN))
    check.add_argument("--exercise", nargs=2, metavar=("NAME", "FILE:CLASS"),
                       help="judge your answer to an exercise of docs/EXERCISES.md; NAME is one "
                       f"of {', '.join(EXERCISES)}")
    check.add_argument("--layer", metavar="MODULE:CLASS",
                       help="check your own layer class (module or path/to/file.py)")
    option(check, "--inputs", 5, f"input width for --layer (at most {MAX_WIDTH:,})",
           type=count_up_to(MAX_WIDTH))
    option(check, "--outputs", 4, "output width for --layer, if its class takes (inputs, "
           f"outputs) (at most {MAX_WIDTH:,})", type=count_up_to(MAX_WIDTH))
    check.add_argument("--optimizer", metavar="MODULE:CLASS",
                       help="the same as --exercise adam MODULE:CLASS")
    check.set_defaults(func=gradcheck_command.gradcheck)
    return parser


def one_line_warning(message, *args, **kwargs):
    """A warning as the command line prints it: one line, no source line."""
    return f"npvae: warning: {message}\n"


def _terminate(signum, frame):
    raise Terminated()


def main(argv=None):
    """Entry point of the ``npvae`` command; returns the exit status."""
    import matplotlib

    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)  # unwinds like Ctrl-C: no half files
    formatwarning = warnings.formatwarning
    warnings.formatwarning = one_line_warning
    try:
        with warnings.catch_warnings():  # NumPy's overflow notes on absurd inputs: the
            warnings.simplefilter("ignore", RuntimeWarning)  # errors that follow say it
            return args.func(args)
    except BrokenPipeError:  # stdout closed (`npvae evaluate ... | head`): stop quietly, as a
        devnull = os.open(os.devnull, os.O_WRONLY)  # program killed by SIGPIPE would (128 + 13)
        os.dup2(devnull, sys.stdout.fileno())  # so that Python's final flush raises no more
        return 141
    except (ValueError, OSError, TrainingDiverged) as error:  # DataError, CheckpointError too
        print(f"npvae {args.command}: error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"npvae {args.command}: error: not enough memory for what was asked (smaller "
              "sizes?)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: files are written atomically
        terminated = isinstance(stop, Terminated)
        print(f"npvae {args.command}: {'terminated' if terminated else 'interrupted'}",
              file=sys.stderr)
        return 143 if terminated else 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        warnings.formatwarning = formatwarning


if __name__ == "__main__":
    sys.exit(main())
