"""The ``npvae`` command line's parser: every command, its options and its help.

Each command lives in a module of its own beside this one (``train.py``, ``generate.py``,
``evaluate.py``, ``anomaly.py``, ``disentangling.py``, ``gradcheck.py``); ``main.py`` runs them;
run folders are ``run_folder.py``'s.
"""

import argparse
import math

from ..data.catalog import DATASETS
from ..models.importance import ESTIMATORS as GRADIENTS
from ..models.importance import KLS, OBJECTIVES
from ..models.tcvae import ESTIMATORS
from ..models.vae import ACTIVATIONS, LIKELIHOODS
from ..nn.losses import LEARNED_STD
from ..teaching.checks import BROKEN
from ..teaching.judge import EXERCISES
from ..evaluation.regret import REGRET_STEPS
from ..training.fit import BINARIZE, ENGINES
from ..training.schedules import LR_SCHEDULES
from ..utils.version import installed_version
from . import anomaly as anomaly_commands
from . import disentangling as disentangling_commands
from . import evaluate as evaluate_command
from . import generate as generate_commands
from . import gradcheck as gradcheck_command
from . import train as train_command
from .disentangling import MODELS
from .run_folder import MAX_COLUMNS, MAX_IMAGES, MAX_ROWS, TrainConfig


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


MAX_STEPS = 10_000  # of an optimisation per image


def steps(text):
    """An argparse type: an integer from 0 to ``MAX_STEPS``."""
    value = seed(text)
    if value > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_STEPS:,}; got {value:,}")
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


# What each command does and its most common use: the paragraph its --help opens with.
DESCRIPTIONS = {
    "npvae": """A variational autoencoder written from scratch in NumPy: train one, look at what
it learnt, and check every gradient against finite differences.

Start with:  npvae train                 (MNIST, or offline the MNIST test set npvae ships)
             npvae train --dataset digits   (seconds, no network; writes runs/digits)
then:        npvae sample --run runs/digits (train ends with the commands to try next)
Each command's options: npvae COMMAND --help""",
    "train": """Train a VAE and write a run folder: checkpoint, config, history, and figures of
samples, reconstructions and loss curves. Without --out, the folder is runs/<dataset>
(runs/<dataset>-2 and so on once that holds a run).

Most common:  npvae train                            (MNIST: 784-400-400-20, 10 epochs)
              npvae train --dataset digits --epochs 30   (seconds, no network)
              npvae train --resume --out runs/digits --epochs 50""",
    "sample": """Decode draws from the prior into a grid of images (samples.png in the run).

Most common:  npvae sample --run runs/digits""",
    "reconstruct": """Test images above their reconstructions (reconstructions.png in the run).

Most common:  npvae reconstruct --run runs/digits""",
    "interpolate": """Strips of images decoded along straight lines between the codes of two test
images (interpolation.png in the run).

Most common:  npvae interpolate --run runs/digits""",
    "latent": """The test set in latent space: the posterior means coloured by label (the first two
dimensions, or a PCA of more) and the KL of each dimension (latent.png, kl_per_dimension.png).

Most common:  npvae latent --run runs/digits""",
    "evaluate": """Score the run's model on its test set: the negative ELBO and its parts, the
importance-weighted bound on -log p(x) with --iwae-k, the KL per latent dimension and the active
units (and MIG for data with known factors).

Most common:  npvae evaluate --run runs/digits --iwae-k 100""",
    "anomaly": """Anomaly scores of the test images and a threshold from the training images; with
--ood-dataset or --ood-data-dir, how well each score tells another data set's images apart
(AUROC, ood.json, ood.png). Without them: anomaly.png.

Most common:  npvae anomaly --run runs/digits""",
    "traverse": """Latent traversals: one row per latent dimension (sorted by KL), each moving one
coordinate of a test image's code from -LIMIT to +LIMIT (traversal.png).

Most common:  npvae traverse --run runs/digits""",
    "uncertainty": """How sure the model is: the posterior's spread and the decoder's spread over
it, and the least and most likely test images by the IWAE bound (uncertainty.png,
least_most_sure.png).

Most common:  npvae uncertainty --run runs/digits""",
    "gradcheck": """Check every gradient of the VAE against centred finite differences, in float64
with fixed noise; or judge your answer to an exercise (--exercise, --list for the exercises), or
check a layer of your own (--layer).

Most common:  npvae gradcheck
              npvae gradcheck --list
              npvae gradcheck --exercise kl mine.py:MyKL""",
}


def subcommand(subcommands, name, help):
    """A command's parser, its --help opening with its paragraph of DESCRIPTIONS."""
    return subcommands.add_parser(name, help=help, description=DESCRIPTIONS[name],
                                  usage=f"npvae {name} [options]",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser():
    parser = Parser(prog="npvae", description=DESCRIPTIONS["npvae"],
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"npvae {installed_version()}")
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=Parser,
                                        title="commands", metavar="COMMAND")
    d = TrainConfig()

    # train's options default to None, so that --resume can tell a flag given from one left out
    train = subcommand(subcommands, "train", "train a VAE and write a run folder")
    data = train.add_argument_group("the data")
    option(data, "--dataset", None, "mnist and fashion-mnist download once from OpenML; "
           "mnist-t10k (the MNIST test set) ships with npvae; digits with scikit-learn. Left "
           "out, mnist, or mnist-t10k when MNIST cannot be downloaded",
           shown="mnist", choices=DATASETS)
    option(data, "--data-dir", None, "a folder of MNIST-format IDX files to train on instead "
           "of a download; for the sprites, DeepMind's dSprites .npz (or its folder)",
           shown="none")
    option(data, "--val-fraction", None, "fraction of the training images held out to "
           "validate after each epoch (at most 10,000; 0: none); the test set is used once, at "
           "the end", shown=d.val_fraction, type=float)
    option(data, "--binarize", None, "targets: grey levels (none), one Bernoulli sample "
           "(static), or a new sample every epoch (dynamic)", shown=d.binarize, choices=BINARIZE)
    option(data, "--standardize", None, "gaussian: train on (x - mean) / std of the training "
           "images, per pixel; losses are also reported in the data's own units",
           shown="off", action="store_true")
    option(data, "--holdout-class", None, "leave class C out of training (see 'npvae "
           "anomaly')", shown="none", type=int, metavar="C")
    model = train.add_argument_group("the model")
    option(model, "--hidden", None, "sizes of the encoder's hidden layers (and, reversed, of "
           "the decoder's unless --decoder-hidden)", shown=d.hidden, type=count, nargs="*")
    option(model, "--latent-dim", None, "K, the latent dimensions", shown=d.latent_dim,
           type=count)
    option(model, "--beta", None, "weight of the KL term (1: the ELBO); tcvae: of the total "
           "correlation", shown="1; 6 for tcvae", type=float)
    option(model, "--likelihood", None, "bernoulli (data in [0, 1]) or gaussian",
           shown=d.likelihood, choices=LIKELIHOODS)
    option(model, "--gaussian-std", None, "gaussian: the standard deviation of p(x | z), "
           "learned (one for all pixels), learned-per-dim, or a fixed number",
           shown=d.gaussian_std, type=gaussian_std, metavar="STD")
    option(model, "--activation", None, "after every hidden layer", shown=d.activation,
           choices=ACTIVATIONS)
    option(model, "--decoder-hidden", None, "sizes of the decoder's hidden layers, from z to x "
           "(none given: a linear decoder)", shown="--hidden reversed", type=count, nargs="*")
    option(model, "--conditional", None, "a conditional VAE: the one-hot label goes in with x "
           "and with z", shown="off", action="store_true")
    option(model, "--free-bits", None, "nats: each latent dimension's batch-mean KL counts as "
           "at least this (Kingma et al. 2016)", shown=d.free_bits, type=float,
           metavar="LAMBDA")
    option(model, "--dtype", None, "float32 (fast) or float64", shown=d.dtype,
           choices=("float32", "float64"))
    option(model, "--log-std-scale", None, "gaussian, learned std: its log is stored divided by "
           "this, so Adam moves it this many times faster than a weight (raise it if training "
           "ends with the learned std far above its optimum)", shown=d.log_std_scale,
           type=float)
    option(model, "--objective", None, "elbo, or iwae: the importance-weighted bound with --k "
           "draws per image (Burda et al. 2016)", shown=d.objective, choices=OBJECTIVES)
    option(model, "--k", None, "iwae: draws per image, 1 to 1,000", shown="5 for iwae",
           type=count, metavar="K")
    option(model, "--kl", None, "the KL in closed form (analytic) or from the draw "
           "(monte-carlo; iwae's only choice)", shown="analytic; monte-carlo for iwae",
           choices=KLS)
    option(model, "--gradient", None, "the encoder's gradient estimator with a Monte Carlo KL: "
           "reparam (the bound's own), stl (sticking the landing) or dreg (doubly "
           "reparameterized)", shown=d.gradient, choices=GRADIENTS)
    option(model, "--model", None, "vae; tcvae, beta-TCVAE (Chen et al. 2018); factorvae, "
           "FactorVAE (Kim & Mnih 2018)", shown=d.model, choices=MODELS)
    option(model, "--alpha", None, "tcvae: weight of the index-code mutual information",
           shown=1.0, type=float)
    option(model, "--gamma", None, "tcvae: weight of the dimension-wise KL; factorvae: of the "
           "discriminator's total correlation", shown="1 for tcvae, 10 for factorvae",
           type=float)
    option(model, "--estimator", None, "tcvae: the minibatch estimate of q(z), stratified (mss) "
           "or weighted (mws) sampling", shown="mss", choices=ESTIMATORS)
    option(model, "--disc-lr", None, "factorvae: the discriminator's Adam learning rate (the "
           "paper's 1e-4 learns too slowly for a CPU run's steps)", shown=1e-3, type=float)
    option(model, "--disc-hidden", None, "factorvae: the discriminator's hidden sizes (the "
           "paper's: 1000 1000 1000 1000 1000 1000)", shown="256 256", type=count, nargs="+")
    loop = train.add_argument_group("training")
    option(loop, "--epochs", None, "total epochs (with --resume: train until there are this "
           "many), at most 100,000", shown=d.epochs, type=count_up_to(100_000))
    option(loop, "--batch-size", None, "examples per batch", shown=d.batch_size, type=count)
    option(loop, "--lr", None, "Adam's learning rate", shown=d.lr, type=float)
    option(loop, "--seed", None, "seed of the initial weights, the noise and the shuffling",
           shown=d.seed, type=seed)
    option(loop, "--patience", None, "early stopping: stop after P epochs without a lower "
           "validation loss and keep the best epoch's weights", shown="off", type=count,
           metavar="P")
    option(loop, "--lr-schedule", None, "cosine annealing over the epochs, or halving the "
           "rate when the validation loss stalls for 2 epochs (plateau)",
           shown=d.lr_schedule, choices=("none", *LR_SCHEDULES))
    option(loop, "--warmup", None, "epochs of KL warm-up (fractions allowed), beta rising "
           "step by step from beta / steps to beta", shown=d.warmup, type=float)
    option(loop, "--kl-cycles", None, "instead of --warmup, a cyclical KL schedule (Fu et al. "
           "2019): M cycles, beta rising from 0 over the first half of each", shown="none",
           type=count, metavar="M")
    option(loop, "--engine", None, "fast: two cores, work arrays; reference: the plain "
           "functions of npvae/reference.py, one thread, to step through", shown=d.engine,
           choices=ENGINES)
    run = train.add_argument_group("the run folder")
    option(run, "--out", None, "the run folder", shown="runs/<dataset>")
    option(run, "--resume", False, "continue the run in --out with its saved settings",
           shown="off", action="store_true")
    option(run, "--quiet", False, "no progress bar", shown="off", action="store_true")
    train.set_defaults(func=train_command.train)

    def run_command(name, func, text):
        sub = subcommand(subcommands, name, text)
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
    option(anomaly, "--regret-steps", REGRET_STEPS, "Adam steps of Likelihood Regret, the slow "
           "score (each image's posterior fitted to it alone; 0: not computed)",
           type=steps, metavar="S")
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

    check = subcommand(subcommands, "gradcheck",
                       "check every gradient against finite differences; judge exercises")
    option(check, "--seed", 0, "seed of the inputs and noise", type=seed)
    option(check, "--broken", None, "run the checks on a deliberately wrong formula, to see a "
           "failure", shown="none", choices=sorted(BROKEN))
    check.add_argument("--exercise", nargs=2, metavar=("NAME", "FILE:CLASS"),
                       help="judge your answer to an exercise (npvae gradcheck --list says what "
                       f"each asks for); NAME is one of {', '.join(EXERCISES)}")
    option(check, "--list", False, "list the exercises: what to write and the command that "
           "judges it", shown="off", action="store_true")
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
