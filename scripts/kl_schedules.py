"""KL warm-up, the cyclical schedule and free bits: when each helps, measured.

    python scripts/kl_schedules.py [--seeds 0 1 2] [--jobs 2] [--no-mnist] [--out runs/kl]

Four ways to train each of four models, every combination one joblib process with one BLAS
thread: no schedule; a linear KL warm-up over a third of the epochs (Bowman et al. 2016); the
cyclical schedule, 4 cycles (Fu et al. 2019); free bits, 0.5 nats per latent dimension (Kingma
et al. 2016). The models:

    digits, beta 1           64-400-400-20, Bernoulli, 30 epochs: nothing collapses
    digits, beta 4           the same with beta 4: the objective itself favours collapse
    digits, gaussian std 1   a Gaussian of std 1 on pixels in [0, 1]: the KL outweighs the
                             reconstruction, collapse again
    mnist-t10k, big decoder  784-64-20 encoder, 20-1000-1000-784 decoder, dynamically
                             binarized, 20 epochs (the shipped MNIST test set; --no-mnist skips
                             it): Bowman et al.'s recipe for collapse, with a dense decoder

Each is scored on its test set by the negative ELBO at beta 1 (whatever it trained with), the
IWAE bound on -log p(x) with k = 100 (the fairer score: free bits and beta change the
objective, not the model's likelihood), the KL, and how many latent dimensions carry more than
0.1 nats. Prints the means over --seeds and writes results.json.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from npvae import VAE, Adam, evaluate, fit, iwae_nll, kl_per_dimension
from npvae.data.catalog import load_dataset
from npvae.training.fit import test_targets

MODELS = {  # name: (data set, epochs, VAE options, fit options)
    "digits, beta 1": ("digits", 30, {}, {}),
    "digits, beta 4": ("digits", 30, {"beta": 4.0}, {}),
    "digits, gaussian std 1": ("digits", 30, {"likelihood": "gaussian", "gaussian_std": 1.0},
                               {}),
    "mnist-t10k, big decoder": ("mnist-t10k", 20, {"hidden_dims": (64,),
                                                   "decoder_hidden_dims": (1000, 1000)},
                                {"binarize_mode": "dynamic"}),
}
SCHEDULES = ("none", "warm-up", "cyclical", "free bits 0.5")


def train_one(name, schedule, seed):
    """Train one model with one schedule; its test scores."""
    dataset, epochs, options, fit_options = MODELS[name]
    options = {"hidden_dims": (400, 400), **options}
    kl_options = {"none": {}, "warm-up": {"warmup_epochs": epochs / 3},
                  "cyclical": {"kl_cycles": 4}, "free bits 0.5": {}}[schedule]
    with threadpool_limits(1):
        data = load_dataset(dataset)
        model = VAE(data.X_train.shape[1], latent_dim=20, random_state=seed,
                    free_bits=0.5 if schedule.startswith("free bits") else 0.0, **options)
        fit(model, data.X_train, epochs=epochs, optimizer=Adam(model.params, threads=1),
            **fit_options, **kl_options)
        X_test = test_targets(data.X_test, fit_options.get("binarize_mode", "none"))
        test = evaluate(model, X_test)
        return {"model": name, "schedule": schedule, "seed": seed, "neg_elbo": test["loss"],
                "iwae_nll": iwae_nll(model, X_test, k=100), "kl": test["kl"],
                "dims_above_0.1_nats": int((kl_per_dimension(model, X_test) > 0.1).sum())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--no-mnist", action="store_true", help="leave out the MNIST model")
    parser.add_argument("--out", default="runs/kl")
    args = parser.parse_args()
    names = [name for name in MODELS if not (args.no_mnist and name.startswith("mnist"))]
    runs = Parallel(n_jobs=args.jobs)(delayed(train_one)(name, schedule, seed) for name in names
                                      for schedule in SCHEDULES for seed in args.seeds)
    print(f"test scores, means over seeds {args.seeds} (nats per image)")
    print(f"{'model':<24} {'schedule':<14} {'neg. ELBO':>9} {'IWAE k=100':>10} {'KL':>6} "
          f"{'dims > 0.1':>10}")
    for name in names:
        for schedule in SCHEDULES:
            mine = [r for r in runs if r["model"] == name and r["schedule"] == schedule]
            mean = {key: np.mean([r[key] for r in mine]) for key in mine[0] if key not in
                    ("model", "schedule", "seed")}
            print(f"{name:<24} {schedule:<14} {mean['neg_elbo']:9.2f} {mean['iwae_nll']:10.2f} "
                  f"{mean['kl']:6.2f} {mean['dims_above_0.1_nats']:10.1f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(runs, indent=1))
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
