"""Anomaly detection on scikit-learn's digits: hold each class out of training in turn and
measure how well the VAE's scores pick it out among the test images (ROC-AUC, 0.5 is chance).

    python scripts/anomaly_digits.py [--epochs 30] [--jobs 2]

The same as `npvae train --dataset digits --holdout-class C --epochs 30 --val-fraction 0`
(every training image trains: no validation split) followed by `npvae anomaly --run DIR`, for
C = 0 to 9, as one table.
"""

import argparse

from joblib import Parallel, delayed
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from npvae import VAE, Adam, fit
from npvae.cli.run_folder import without_class
from npvae.data.catalog import load_digits_split
from npvae.evaluation.elbo import anomaly_scores


def held_out_auc(label, epochs, seed):
    with threadpool_limits(1):
        data = load_digits_split()
        seen = without_class(data, label)
        model = VAE(64, (400, 400), 20, random_state=seed)
        fit(model, seen.X_train, epochs=epochs, optimizer=Adam(model.params, threads=1))
        neg_elbo, error = anomaly_scores(model, data.X_test)
        held = data.y_test == label
        return label, roc_auc_score(held, neg_elbo), roc_auc_score(held, error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rows = Parallel(n_jobs=args.jobs)(delayed(held_out_auc)(c, args.epochs, args.seed)
                                      for c in range(10))
    print(f"held-out class   ROC-AUC by -ELBO   by reconstruction error   ({args.epochs} epochs)")
    for label, by_elbo, by_error in rows:
        print(f"{label:14d}   {by_elbo:16.3f}   {by_error:23.3f}")
    print(f"{'mean':>14}   {sum(r[1] for r in rows) / 10:16.3f}   "
          f"{sum(r[2] for r in rows) / 10:23.3f}")


if __name__ == "__main__":
    main()
