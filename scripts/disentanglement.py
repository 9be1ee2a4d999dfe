"""Train the disentangling VAEs on sprites with known factors and compare them.

MIG, test negative ELBO, total correlation, and a latent traversal of each.

    python scripts/disentanglement.py [--epochs 20] [--seeds 0 1 2] [--jobs 2] [--blas-threads 1]
                                      [--out runs/disentanglement] [--figures DIR]

Models (the same 1024-256-256-10 networks, Adam 1e-3, batch 128, on ``--dataset sprites``, the
CPU-sized dSprites of npvae.data.sprites): VAE (beta 1), beta-VAE (beta 4), beta-TCVAE (beta 6,
MSS), beta-TCVAE (beta 6, MWS), FactorVAE (gamma --factorvae-gamma, its discriminator --disc-hidden
trained at --disc-lr; the discriminator's cross-entropy, accuracy and TC estimate of each epoch
go into results.json and the last epoch's is printed). Each model and seed is one joblib
job (separate processes), each limited to --blas-threads BLAS threads, as in beta_sweep.py. On the
test set: MIG (npvae.evaluation.disentanglement.mig on the posterior means, the shape counted as a
factor), the negative ELBO (one noise sample per image, npvae.evaluate) and the total correlation of
the whole test set (npvae.evaluation.disentanglement.whole_set_decomposition). Writes results.json,
one traversal figure per model (seed 0) and prints the table (mean and standard deviation over the
seeds); with --figures, copies the traversals there as sprites-traversal-<model>.png. For the
first seed it also prints the KL term's three parts on the test set, whole-set against the
training loss's minibatch estimates (MSS and MWS).
"""

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from npvae import TCVAE, VAE, Adam, FactorVAE, evaluate, fit  # noqa: E402
from npvae.cli.disentangling import traversal  # noqa: E402
from npvae.data.catalog import load_dataset
from npvae.data.dataset import DataError  # noqa: E402
from npvae.evaluation import plots  # noqa: E402
from npvae.evaluation.disentanglement import (mig, minibatch_decomposition, posterior_means,
                                              varying, whole_set_decomposition)
from npvae.evaluation.elbo import kl_per_dimension  # noqa: E402
from npvae.models.factorvae import DISCRIMINATOR_LR  # noqa: E402

MODELS = {  # name: (class, options)
    "VAE": (VAE, {"beta": 1.0}),
    "beta-VAE": (VAE, {"beta": 4.0}),
    "beta-TCVAE MSS": (TCVAE, {"beta": 6.0, "estimator": "mss"}),
    "beta-TCVAE MWS": (TCVAE, {"beta": 6.0, "estimator": "mws"}),
    "FactorVAE": (FactorVAE, {}),
}


def train_one(name, seed, args):
    """Train one model with one seed; its test numbers and (seed 0) its traversal images."""
    began = time.perf_counter()
    with threadpool_limits(args.blas_threads):
        data = load_dataset(args.dataset, args.data_dir)
        cls, options = MODELS[name]
        options = dict(options)
        if cls is TCVAE:
            options["dataset_size"] = len(data.X_train)
        if cls is FactorVAE:
            options.update(gamma=args.factorvae_gamma, discriminator_lr=args.disc_lr,
                           discriminator_hidden=tuple(args.disc_hidden))
        model = cls(data.X_train.shape[1], tuple(args.hidden), args.latent_dim,
                    random_state=seed, **options)
        optimizer = Adam(model.params, lr=args.lr, threads=args.blas_threads)
        history = fit(model, data.X_train, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=optimizer)
        codes = posterior_means(model, data.X_test)
        used = varying(data.factors_test)  # (all of them, but on a tiny file)
        result = {"model": name, "seed": seed, "mig": mig(codes, data.factors_test[:, used]),
                  "neg_elbo": evaluate(model, data.X_test)["loss"],
                  **whole_set_decomposition(model, data.X_test)}
        if cls is FactorVAE:  # the adversary, epoch by epoch
            result["discriminator"] = {key: [r[key] for r in history] for key in
                                       ("discriminator_loss", "discriminator_accuracy",
                                        "tc_estimate")}
        if seed == args.seeds[0]:
            kl = kl_per_dimension(model, data.X_test)
            dims = np.argsort(kl, kind="stable")[::-1]
            result["traversal"] = traversal(model, codes[0], dims)
            result["kl_per_dimension"] = kl[dims].tolist()
            result["dims"] = dims.tolist()
            result["image_shape"] = data.image_shape
            for estimator in ("mss", "mws"):  # the training loss's estimates, beside the set's
                result[estimator] = minibatch_decomposition(model, data.X_test, estimator)
    result["seconds"] = time.perf_counter() - began
    return result


def summary(values):
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sprites", choices=("sprites", "sprites-full"))
    parser.add_argument("--data-dir", help="DeepMind's dsprites .npz (or its folder)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="*", default=[256, 256])
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument("--factorvae-gamma", type=float, default=35.0)
    parser.add_argument("--disc-lr", type=float, default=DISCRIMINATOR_LR,
                        help="FactorVAE's discriminator learning rate")
    parser.add_argument("--disc-hidden", type=int, nargs="+", default=[256, 256],
                        help="FactorVAE's discriminator hidden sizes")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--blas-threads", type=int, default=1, help="threads per job")
    parser.add_argument("--out", default="runs/disentanglement")
    parser.add_argument("--figures", help="copy the traversal figures into this folder")
    args = parser.parse_args()
    try:  # once here, so that a missing data set is one message, not a traceback per job
        load_dataset(args.dataset, args.data_dir)
    except DataError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")

    began = time.perf_counter()
    jobs = [(name, seed) for seed in args.seeds for name in args.models]
    results = Parallel(n_jobs=args.jobs)(delayed(train_one)(name, seed, args)
                                         for name, seed in jobs)
    minutes = (time.perf_counter() - began) / 60

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{args.dataset}, {'-'.join(map(str, ['D', *args.hidden, args.latent_dim]))}, "
          f"{args.epochs} epochs, seeds {' '.join(map(str, args.seeds))}: mean ± standard "
          f"deviation over the seeds, test set ({minutes:.1f} minutes with {args.jobs} jobs)")
    print("| model | MIG | test negative ELBO (nats) | total correlation (nats) |")
    print("|---|---|---|---|")
    for name in args.models:
        runs = [r for r in results if r["model"] == name]
        print(f"| {name} | {summary([r['mig'] for r in runs])} | "
              f"{summary([r['neg_elbo'] for r in runs])} | {summary([r['tc'] for r in runs])} |")
    adversary = [r for r in results if "discriminator" in r]
    for r in adversary:
        d = r["discriminator"]
        print(f"FactorVAE seed {r['seed']}, the discriminator's last epoch: cross-entropy "
              f"{d['discriminator_loss'][-1]:.3f}, accuracy "
              f"{d['discriminator_accuracy'][-1]:.3f}, TC estimate "
              f"{d['tc_estimate'][-1]:.2f} nats (whole-set TC {r['tc']:.2f})")
    if adversary:
        first, last, estimate = (statistics.mean(r["discriminator"][key][i] for r in adversary)
                                 for key, i in (("discriminator_accuracy", 0),
                                                ("discriminator_accuracy", -1),
                                                ("tc_estimate", -1)))
        print(f"FactorVAE, mean over the seeds: discriminator accuracy {first:.2f} in the first "
              f"epoch, {last:.2f} in the last; its TC estimate in the last {estimate:.2f} nats")
    print("each seed's MIG: " + "; ".join(
        f"{name} " + " ".join(f"{r['mig']:.3f}" for r in results if r["model"] == name)
        for name in args.models))
    print(f"\nthe KL term's parts on the test set, seed {args.seeds[0]} (nats per image): over the "
          "whole set (q(z) the mixture of all its posteriors), and the minibatch estimates of "
          "the training loss (batches of 128 of it, N its size)")
    print("| model | whole set: MI / TC / DWKL | minibatch MSS | minibatch MWS |")
    print("|---|---|---|---|")
    for r in results:
        if "mss" in r:
            parts = [" / ".join(f"{p[k]:.2f}" for k in ("mi", "tc", "dwkl"))
                     for p in (r, r["mss"], r["mws"])]
            print(f"| {r['model']} | {' | '.join(parts)} |")
    for r in results:
        if "traversal" not in r:
            continue
        slug = r["model"].lower().replace(" ", "-")
        fig = plots.image_grid(r.pop("traversal"), r["image_shape"], 9,
                               f"{r['model']}, MIG {r['mig']:.2f}",
                               row_labels=[f"z{k} ({v:.1f})" for k, v in
                                           zip(r["dims"], r["kl_per_dimension"])])
        path = out / f"traversal-{slug}.png"
        fig.savefig(path, dpi=80)
        if args.figures:
            Path(args.figures).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(args.figures) / f"sprites-traversal-{slug}.png")
    (out / "results.json").write_text(json.dumps(
        {"args": vars(args), "minutes": minutes, "runs": results}, indent=1, default=str))
    print(f"wrote {out / 'results.json'} and the traversal figures traversal-*.png in {out}")


if __name__ == "__main__":
    main()
