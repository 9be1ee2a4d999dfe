"""Train beta-VAEs for several betas in parallel and draw their rate-distortion curve.

    python scripts/beta_sweep.py [--dataset digits] [--betas 0.25 0.5 1 2 4 8] [--epochs 30]
                                 [--jobs 2] [--blas-threads 1] [--out runs/beta_sweep]

Each beta is one joblib job (separate processes). Each job limits its BLAS and its Adam to
--blas-threads threads (threadpoolctl), so that jobs x threads stay within the cores instead of
oversubscribing them. Writes rate_distortion.png (KL against reconstruction on the test set, one
point per beta), samples_by_beta.png (a row of prior samples per beta) and results.json.

On a cluster, the same sweep runs unchanged through joblib's Dask backend: start a Dask
scheduler and workers (pip install "dask[distributed]"; dask scheduler; dask worker ADDRESS)
and pass --dask-scheduler ADDRESS (e.g. tcp://10.0.0.5:8786). Each beta then runs on a Dask
worker; --jobs is ignored, and the workers need npvae installed and the data at the same path.
"""

import argparse
import contextlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from joblib import Parallel, delayed, parallel_config  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from npvae import VAE, Adam, evaluate, fit  # noqa: E402
from npvae.data.catalog import DATASETS, load_dataset
from npvae.data.dataset import DataError  # noqa: E402
from npvae.evaluation import plots  # noqa: E402


def train_one(beta, args):
    """Train one beta-VAE; returns its test rate and distortion and a row of samples."""
    with threadpool_limits(args.blas_threads):
        data = load_dataset(args.dataset, args.data_dir)
        model = VAE(data.X_train.shape[1], tuple(args.hidden), args.latent_dim, beta=beta,
                    random_state=args.seed)
        optimizer = Adam(model.params, lr=args.lr, threads=args.blas_threads)
        fit(model, data.X_train, epochs=args.epochs, batch_size=args.batch_size,
            optimizer=optimizer)
        test = evaluate(model, data.X_test)
        return {"beta": beta, "rate": test["kl"], "distortion": test["reconstruction"],
                "negative_elbo": test["loss"], "samples": model.sample(10, random_state=0),
                "image_shape": data.image_shape}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=DATASETS, default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--betas", type=float, nargs="+", default=[0.25, 0.5, 1, 2, 4, 8])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="*", default=[400, 400])
    parser.add_argument("--latent-dim", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--blas-threads", type=int, default=1, help="threads per job")
    parser.add_argument("--dask-scheduler", metavar="ADDRESS", help="run on a Dask cluster")
    parser.add_argument("--out", default="runs/beta_sweep")
    args = parser.parse_args()
    try:  # once here, so that a missing data set is one message, not a traceback per job
        load_dataset(args.dataset, args.data_dir)
    except DataError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")

    backend = contextlib.nullcontext()
    if args.dask_scheduler:
        from dask.distributed import Client  # only needed for a cluster

        Client(args.dask_scheduler)
        backend = parallel_config(backend="dask")
    with backend:
        results = Parallel(n_jobs=args.jobs)(delayed(train_one)(beta, args)
                                             for beta in args.betas)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'beta':>6} {'rate (KL)':>10} {'distortion':>11} {'-ELBO':>8}   ({args.dataset}, "
          f"{args.epochs} epochs, test set)")
    for r in results:
        print(f"{r['beta']:6g} {r['rate']:10.3f} {r['distortion']:11.3f} {r['negative_elbo']:8.3f}")
    fig = plots.rate_distortion([r["rate"] for r in results], [r["distortion"] for r in results],
                                [r["beta"] for r in results])
    fig.savefig(out / "rate_distortion.png", dpi=110)
    fig = plots.image_grid(np.concatenate([r["samples"] for r in results]),
                           results[0]["image_shape"], 10, f"Prior samples by beta ({args.dataset})",
                           row_labels=[f"β={r['beta']:g}" for r in results])
    fig.savefig(out / "samples_by_beta.png", dpi=110)
    summary = [{k: v for k, v in r.items() if k not in ("samples", "image_shape")}
               for r in results]
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {out / 'rate_distortion.png'}, {out / 'samples_by_beta.png'}, "
          f"{out / 'results.json'}")


if __name__ == "__main__":
    main()
