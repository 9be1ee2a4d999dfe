"""Likelihood Regret against its cost: AUROC by Adam steps, ms per image, and how its ranks follow
the reconstruction error's.

For a trained run and a folder of out-of-distribution t10k IDX files, on the first N images of
each test set (N = 2,000 by default): Likelihood Regret (``npvae.evaluation.regret``) with each
number of steps, its AUROC and its cost measured in this run, and the Spearman rank correlation
of the default score with the squared reconstruction error over both sets' images.

    python scripts/regret_study.py --run runs/readme/fashion-seed0 --ood-data-dir DIR
"""

import argparse
import time

import numpy as np

from npvae.cli.run_folder import open_run, test_set
from npvae.data.mnist import load_idx_test
from npvae.evaluation.elbo import anomaly_scores
from npvae.evaluation.ood import detection_metrics
from npvae.evaluation.regret import REGRET_STEPS, likelihood_regret
from npvae.training.fit import test_targets


def ranks(values):
    """0, 1, ... in the order of ``values`` (ties broken by position: scores here are floats)."""
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values))
    result[order] = np.arange(len(values))
    return result


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--ood-data-dir", required=True)
    parser.add_argument("--n", type=int, default=2000, help="images of each set")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100, 200])
    args = parser.parse_args()
    model, config = open_run(args.run)
    X_in = test_set(config)[0][:args.n]
    X_out = test_targets(load_idx_test(args.ood_data_dir)[0], config.binarize)[:args.n]
    print(f"{config.dataset} model; {len(X_in)} in-distribution and {len(X_out)} "
          f"out-of-distribution images")
    print(f"{'steps':>5} {'AUROC':>6} {'ms per image':>12}")
    default = None
    for steps in args.steps:
        start = time.perf_counter()
        scores = [likelihood_regret(model, X, steps=steps) for X in (X_in, X_out)]
        cost = 1000 * (time.perf_counter() - start) / (len(X_in) + len(X_out))
        print(f"{steps:5d} {detection_metrics(*scores)['auroc']:6.3f} {cost:12.1f}")
        if steps == REGRET_STEPS:
            default = np.concatenate(scores)
    if default is not None:
        errors = np.concatenate([anomaly_scores(model, X)[1] for X in (X_in, X_out)])
        print(f"Spearman rank correlation of regret ({REGRET_STEPS} steps) with the squared "
              f"reconstruction error: {spearman(default, errors):.2f}")


if __name__ == "__main__":
    main()
