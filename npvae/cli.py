"""The ``npvae`` command line: train, evaluate, sample, reconstruct, interpolate, latent, anomaly,
uncertainty, gradcheck. The commands themselves are in ``npvae.commands``; run folders in
``npvae.runs``.

Errors in what a user typed or pointed at print one line on stderr and exit with status 2.
"""

import argparse
import sys

from . import commands
from .checks import BROKEN
from .data import DATASETS
from .runs import TrainConfig
from .train import BINARIZE, TrainingDiverged
from .vae import LIKELIHOODS


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2, as argparse does)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = Parser(prog="npvae", description="A variational autoencoder in NumPy.")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    d = TrainConfig()

    train = subcommands.add_parser("train", help="train a VAE and write a run folder")
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
    train.add_argument("--conditional", action="store_true",
                       help="a conditional VAE: the one-hot label goes in with x and with z")
    train.add_argument("--holdout-class", type=int, metavar="C",
                       help="leave class C out of training (see 'npvae anomaly')")
    train.add_argument("--out", help="run folder (default runs/<dataset>)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out with its saved settings up to --epochs")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=commands.train)

    def run_command(name, func, text):
        sub = subcommands.add_parser(name, help=text)
        sub.add_argument("--run", required=True, help="a run folder written by 'npvae train'")
        sub.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
        sub.set_defaults(func=func)
        return sub

    sample = run_command("sample", commands.sample, "decode draws from the prior")
    sample.add_argument("--n", type=int, default=64, help="how many images")
    sample.add_argument("--label", type=int, help="the class to draw (conditional runs)")
    reconstruct = run_command("reconstruct", commands.reconstruct,
                              "test images and their reconstructions")
    reconstruct.add_argument("--n", type=int, default=16, help="how many images")
    interpolate = run_command("interpolate", commands.interpolate, "latent interpolation strips")
    interpolate.add_argument("--pairs", type=int, default=6)
    interpolate.add_argument("--steps", type=int, default=10)
    run_command("latent", commands.latent, "the test set in latent space")
    evaluate = run_command("evaluate", commands.evaluate_run,
                           "test ELBO, likelihood bound, KL per dimension, active units")
    evaluate.add_argument("--iwae-k", type=int, metavar="K",
                          help="also the importance-weighted bound on log p(x) with K samples")
    anomaly = run_command("anomaly", commands.anomaly,
                          "anomaly scores and a threshold, or out-of-distribution detection")
    anomaly.add_argument("--percentile", type=float, default=99.0,
                         help="threshold: this percentile of the training scores (default 99)")
    other = anomaly.add_mutually_exclusive_group()
    other.add_argument("--ood-dataset", choices=DATASETS, metavar="NAME",
                       help="score this data set's test images as out-of-distribution against "
                            f"the run's test set: {', '.join(DATASETS)} (default: none)")
    other.add_argument("--ood-data-dir", metavar="DIR",
                       help="the same for the t10k IDX files in DIR (no train files needed; "
                            "default: none)")
    anomaly.add_argument("--iwae-k", type=int, default=10, metavar="K",
                         help="samples of the IWAE bound in the out-of-distribution scores "
                              "(default 10)")
    uncertainty = run_command("uncertainty", commands.uncertainty,
                              "posterior spread, decoder spread, least and most likely images")
    uncertainty.add_argument("--samples", type=int, default=100, metavar="S",
                             help="draws from q(z | x) for the decoder's mean and standard "
                                  "deviation (default 100)")
    uncertainty.add_argument("--n", type=int, default=8,
                             help="how many test images in each figure (default 8)")
    uncertainty.add_argument("--iwae-k", type=int, default=10, metavar="K",
                             help="samples of the IWAE bound that ranks the test images "
                                  "(default 10)")

    check = subcommands.add_parser("gradcheck",
                                   help="check every gradient against finite differences")
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
    check.set_defaults(func=commands.gradcheck)
    return parser


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
    except KeyboardInterrupt:  # Ctrl-C: files are written atomically, so nothing is half-written
        print(f"npvae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
