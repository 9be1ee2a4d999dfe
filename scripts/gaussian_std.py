"""A Gaussian VAE on standardised digits: fixed standard deviations against learned ones.

    python scripts/gaussian_std.py [--stds 0.1 0.2 0.3 0.4 0.5 1] [--epochs 50] [--seeds 0 1 2]
                                   [--jobs 2] [--out runs/gaussian_std]

scikit-learn's 8x8 digits, each pixel standardised by the training images' mean and standard
deviation (StandardScaler), trained for --epochs with each fixed std of p(x | z), with one
learned std for all pixels (gaussian_std="learned", the sigma-VAE of Rybkin et al. 2021) and
with one learned per pixel ("learned-per-dim"); 64-400-400-20, Adam 1e-3, batch 128. Prints the
test negative ELBO (mean and standard deviation over the seeds), in standardised units and in
the data's own (+ sum_d log std_d, npvae.evaluation.change_of_variables), its median over the
test images (which one absurd image cannot move), and writes results.json. One joblib process
per run, each with one BLAS thread.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from npvae import VAE, Adam, evaluate, fit, kl_per_dimension
from npvae.data.catalog import load_digits_split
from npvae.evaluation.elbo import change_of_variables, per_example_elbo


def standardised_digits():
    data = load_digits_split()
    scaler = StandardScaler().fit(data.X_train)
    X_train, X_test = (scaler.transform(X).astype(np.float32) for X in (data.X_train, data.X_test))
    return X_train, X_test, scaler.scale_


def train_one(std, seed, args):
    """Train one model; its test negative ELBO and parts, and the std it ended with."""
    with threadpool_limits(1):
        X_train, X_test, _ = standardised_digits()
        model = VAE(64, (400, 400), 20, likelihood="gaussian", gaussian_std=std,
                    random_state=seed)
        fit(model, X_train, epochs=args.epochs, batch_size=128,
            optimizer=Adam(model.params, lr=1e-3, threads=1))
        test = evaluate(model, X_test)
        rec, kl = per_example_elbo(model, X_test)
        return {"std": std, "seed": seed, "neg_elbo": test["loss"], "kl": test["kl"],
                "median_neg_elbo": float(np.median(rec + kl)),
                "dims_above_0.1_nats": int((kl_per_dimension(model, X_test) > 0.1).sum()),
                "final_std": np.exp(np.ravel(model.nll.log_std())).tolist()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stds", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5, 1])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--out", default="runs/gaussian_std")
    args = parser.parse_args()
    stds = [*args.stds, "learned", "learned-per-dim"]
    runs = Parallel(n_jobs=args.jobs)(delayed(train_one)(std, seed, args)
                                      for std in stds for seed in args.seeds)
    X_train, X_test, scale = standardised_digits()
    log_det = change_of_variables(scale)
    print(f"the largest standardised pixel: {np.abs(X_train).max():.1f} in the training images, "
          f"{np.abs(X_test).max():.1f} in the test images (a pixel almost constant in training)")
    print(f"standardised digits, 64-400-400-20, {args.epochs} epochs, seeds {args.seeds}: test "
          f"negative ELBO (nats per image; in the data's own units add {log_det:.2f})")
    print(f"{'std of p(x | z)':<18} {'neg. ELBO':>16} {'own units':>10} {'median':>7} "
          f"{'KL':>7} {'dims > 0.1':>10}  std at the end")
    for std in stds:
        mine = [r for r in runs if r["std"] == std]
        losses = np.array([r["neg_elbo"] for r in mine])
        spread = f"{losses.std(ddof=1):5.2f}" if len(losses) > 1 else "    -"
        end = np.array([np.mean(r["final_std"]) for r in mine]).mean()
        print(f"{str(std):<18} {losses.mean():8.2f} ± {spread} "
              f"{losses.mean() + log_det:10.2f} "
              f"{np.mean([r['median_neg_elbo'] for r in mine]):7.2f} "
              f"{np.mean([r['kl'] for r in mine]):7.2f} "
              f"{np.mean([r['dims_above_0.1_nats'] for r in mine]):10.1f}  "
              + (f"{end:.3f}" + (" (mean over pixels)" if std == "learned-per-dim" else "")
                 if isinstance(std, str) else ""))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(runs, indent=1))
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
