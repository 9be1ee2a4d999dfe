"""Beyond one sample, measured: the signal-to-noise ratio of the three encoder-gradient
estimators as the number of draws K grows, and what training with K = 5 draws buys over one.

    python scripts/iwae_study.py --fashion-dir /usr/share/datasets/fashion-mnist --out runs/iwae

On the shipped MNIST test set (its deterministic 8,000 / 2,000 split) and, with --fashion-dir, on
Fashion-MNIST (60,000 / 10,000), pixels binarized (a fresh sample every epoch in training, one
fixed sample of the test set), as in Burda et al. (2016):

(a) Signal-to-noise ratio (Rainforth et al. 2018). A VAE trained for --snr-epochs epochs; at its
    parameters, on one fixed batch of --batch test images, --repeats gradients of the K-draw
    bound, each with fresh noise, for K in --ks and each estimator (reparam, stl, dreg). Each
    parameter's SNR is |mean| / standard deviation over the repeats; the table gives the mean
    over the encoder's parameters and over the decoder's (the decoder's gradient is the same
    for the three estimators).
(b) Training. From the same seed and for the same --epochs: the ELBO (closed-form KL), and the
    IWAE bound with K = 1 and K = 5 (reparam), and K = 5 (dreg). Each model's test negative
    log-likelihood (the IWAE bound with k = --nll-k draws, on the first --nll-n test images),
    negative ELBO, active units (Burda et al.'s Var_x E_q[z_k] > 0.01) and the stricter count of
    latent dimensions whose test KL exceeds 0.1 nats.

Writes results.json and snr.png into --out.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from npvae import VAE
from npvae.data.catalog import load_dataset
from npvae.evaluation.elbo import active_units, evaluate, iwae_nll, kl_per_dimension
from npvae.models.importance import ESTIMATORS
from npvae.training.fit import fit, test_targets

ARCHITECTURE = dict(hidden_dims=(400, 400), latent_dim=20)
TRAINED = [("ELBO", dict(objective="elbo")), ("IWAE k=1", dict(objective="iwae", k=1)),
           ("IWAE k=5", dict(objective="iwae", k=5)),
           ("IWAE k=5, dreg", dict(objective="iwae", k=5, gradient="dreg"))]


def snr(model, x, k, gradient, repeats, rng):
    """(mean SNR over the encoder's parameters, over the decoder's) of ``gradient``'s estimate
    with k draws, at the model's parameters, on the batch x."""
    config = {**model.config(), "objective": "iwae", "k": k, "kl": None, "gradient": gradient}
    probe = VAE(**config, random_state=0)
    probe.params.vector[...] = model.params.vector
    draws = np.empty((repeats, len(probe.params)), np.float64)
    for r in range(repeats):
        probe.loss_and_grads(x, rng.standard_normal((k, *x.shape[:1], probe.latent_dim),
                                                    dtype=probe.dtype))
        draws[r] = probe.params.grad
    ratio = np.abs(draws.mean(axis=0)) / np.maximum(draws.std(axis=0, ddof=1), 1e-30)
    decoder = np.concatenate([np.full(probe.params.values[name].size,
                                      name.startswith(("decoder", "likelihood")))
                              for name in probe.params.names])
    return float(ratio[~decoder].mean()), float(ratio[decoder].mean())


def study(name, data, args):
    X_train = data.X_train
    X_test = test_targets(data.X_test, "dynamic")  # one fixed binarized sample
    print(f"\n{name}: {len(X_train)} training, {len(X_test)} test images")
    base = VAE(X_train.shape[1], **ARCHITECTURE, random_state=args.seed)
    fit(base, X_train, epochs=args.snr_epochs, binarize_mode="dynamic")
    x = X_test[:args.batch]
    table = {}
    print(f"(a) SNR after {args.snr_epochs} epochs, batch of {len(x)}, {args.repeats} repeats")
    print(f"{'K':>4} " + " ".join(f"{e + ' enc':>12}" for e in ESTIMATORS) + f" {'decoder':>9}")
    for k in args.ks:
        # the same noise for the three: with K = 1, stl and dreg are one estimator
        row = {g: snr(base, x, k, g, args.repeats, np.random.default_rng([args.seed, k]))
               for g in ESTIMATORS}
        table[k] = row
        print(f"{k:4d} " + " ".join(f"{row[g][0]:12.4f}" for g in ESTIMATORS)
              + f" {row['reparam'][1]:9.4f}")
    scored = X_test[:args.nll_n]
    print(f"(b) {args.epochs} epochs each; on {len(scored)} test images, -log p(x) <= the IWAE "
          f"bound with k = {args.nll_k}, and the negative ELBO; active units on all")
    print(f"{'objective':<16} {'-log p(x)':>9} {'-ELBO':>8} {'active units':>12} "
          f"{'KL > 0.1':>8}")
    trained = {}
    for label, options in TRAINED:
        model = VAE(X_train.shape[1], **ARCHITECTURE, random_state=args.seed, **options)
        fit(model, X_train, epochs=args.epochs, binarize_mode="dynamic")
        nll = iwae_nll(model, scored, k=args.nll_k)
        elbo = evaluate(model, scored)["loss"]
        active = active_units(model, X_test)[0]
        carrying = int((kl_per_dimension(model, X_test) > 0.1).sum())
        trained[label] = {"nll": nll, "negative_elbo": elbo, "active_units": active,
                          "kl_above_0.1": carrying}
        print(f"{label:<16} {nll:9.2f} {elbo:8.2f} {active:12d} {carrying:8d}")
    return {"snr": table, "trained": trained}


def figure(results, ks, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        for gradient, style in zip(ESTIMATORS, ("o-", "s-", "^-")):
            ax.plot(ks, [result["snr"][k][gradient][0] for k in ks], style,
                    label=f"encoder, {gradient}")
        ax.plot(ks, [result["snr"][k]["reparam"][1] for k in ks], "k--",
                label="decoder (all three)")
        ax.set(xscale="log", yscale="log", xlabel="K, draws per image",
               ylabel="mean SNR of the gradient", title=name)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fashion-dir", help="a folder of Fashion-MNIST's IDX files")
    parser.add_argument("--out", default="runs/iwae")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 50, 500])
    parser.add_argument("--snr-epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--nll-k", type=int, default=5000)
    parser.add_argument("--nll-n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sets = {"MNIST (shipped test set)": load_dataset("mnist-t10k")}
    if args.fashion_dir:
        sets["Fashion-MNIST"] = load_dataset("fashion-mnist", args.fashion_dir)
    results = {name: study(name, data, args) for name, data in sets.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    figure(results, args.ks, out / "snr.png")
    print(f"\nwrote {out / 'results.json'} and {out / 'snr.png'}")


if __name__ == "__main__":
    main()
