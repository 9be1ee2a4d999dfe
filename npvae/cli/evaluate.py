"""``npvae evaluate``: the losses, bounds and collapse diagnostics of a run."""

import json
import sys
from pathlib import Path

import numpy as np

from ..data.catalog import load_dataset
from ..evaluation import plots
from ..evaluation.elbo import (active_units, elbo_summary, iwae_nll_per_example, kl_per_dimension,
                               per_example_elbo)
from ..utils.files import write_text_atomically
from .disentangling import disentanglement_report
from .run_folder import (check_per_example_path, data_units, labels_for, open_run, run_data,
                         save_figure, test_set, write_per_example)


def evaluate_run(args):
    """Test negative ELBO, the IWAE bound, KL per dimension, active units; with --json, all of
    it in evaluation.json."""
    if not (args.au_threshold >= 0 and args.kl_threshold >= 0):  # NaN too
        raise ValueError(f"--au-threshold and --kl-threshold must be numbers >= 0; got "
                         f"{args.au_threshold} and {args.kl_threshold}")
    if args.per_example:
        check_per_example_path(args.per_example)
    model, config = open_run(args.run)
    data = load_dataset(config.dataset, config.data_dir)  # (once: its factors, if it has them)
    X_test, y_test = test_set(config)
    y = labels_for(model, y_test)
    rec, kl = per_example_elbo(model, X_test, random_state=args.seed, y=y)
    result = elbo_summary(rec, kl)  # evaluate's numbers, with the rows kept
    columns = {"index": np.arange(len(X_test)), "label": y_test, "neg_elbo": rec + kl,
               "reconstruction": rec, "kl": kl}
    standardizer = run_data(config, data).standardizer if config.standardize else None
    print(f"test negative ELBO {result['loss']:.3f} nats per example "
          f"(reconstruction {result['reconstruction']:.3f}, KL {result['kl']:.3f}), "
          f"{len(X_test)} images of {config.dataset}" + data_units(result["loss"], standardizer))
    report = {"dataset": config.dataset, "images": len(X_test), "seed": args.seed,
              "neg_elbo": result["loss"], "reconstruction": result["reconstruction"],
              "kl": result["kl"]}
    if standardizer is not None:
        report["log_det_standardization"] = standardizer.log_det()
    if args.iwae_k is not None:
        columns["iwae_nll"] = iwae_nll_per_example(model, X_test, k=args.iwae_k,
                                                   random_state=args.seed, y=y,
                                                   progress=sys.stderr.isatty())
        nll = float(columns["iwae_nll"].mean())
        print(f"test negative log-likelihood <= {nll:.3f} nats per example "
              f"(importance-weighted bound, k = {args.iwae_k})" + data_units(nll, standardizer))
        report.update(iwae_nll=nll, iwae_k=args.iwae_k)
    per_dim = kl_per_dimension(model, X_test, y=y)
    count, variances = active_units(model, X_test, threshold=args.au_threshold, y=y)
    carrying = int((per_dim > args.kl_threshold).sum())
    print(f"active units: {count} of {model.latent_dim} (Var_x E[z_k | x] > "
          f"{args.au_threshold:g}); carrying more than {args.kl_threshold:g} nats of KL: "
          f"{carrying} of {model.latent_dim}")
    print("KL per latent dimension: " + " ".join(f"{v:.2f}" for v in per_dim))
    report.update(active_units=count, au_threshold=args.au_threshold,
                  posterior_mean_variance=variances.tolist(), kl_per_dimension=per_dim.tolist(),
                  dimensions_above_kl_threshold=carrying, kl_threshold=args.kl_threshold)
    save_figure(plots.bar_chart(per_dim, f"KL per latent dimension ({carrying} of "
                                f"{model.latent_dim} above {args.kl_threshold:g} nats)",
                                "latent dimension k", "KL (nats per example)",
                                line=args.kl_threshold),
                Path(args.run) / "kl_per_dimension.png")
    if data.factors_test is not None and not model.n_classes:  # known factors: MIG, KL parts
        report.update(disentanglement_report(model, data, X_test, args.seed))
    if args.json:
        path = Path(args.run) / "evaluation.json"
        write_text_atomically(path, json.dumps(report, indent=1))
        print(f"wrote {path}")
    if args.per_example:
        if standardizer is not None:  # the rows above are in standardised units
            for name in [name for name in ("neg_elbo", "iwae_nll") if name in columns]:
                columns[f"{name}_own_units"] = columns[name] + standardizer.log_det()
        write_per_example(args.per_example, columns)
    return 0
