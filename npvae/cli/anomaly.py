"""``npvae anomaly`` and ``npvae uncertainty``: what the model finds unusual, and how sure it is.

The computations are library functions (``npvae.evaluation``, ``npvae.evaluation.ood``); these
commands load a run, call them, print tables and draw figures. Each takes the parsed arguments and
returns the exit status; a user's mistake raises ValueError (one line, exit status 2).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..data.catalog import load_dataset
from ..data.dataset import DataError, DownloadError
from ..data.mnist import load_idx_test
from ..evaluation import plots
from ..evaluation.elbo import anomaly_scores, iwae_nll_per_example, predictive_moments
from ..evaluation.ood import detection_metrics, ood_scores
from ..evaluation.regret import likelihood_regret
from ..training.fit import test_targets
from ..utils.files import write_text_atomically
from .run_folder import (MAX_COLUMNS, check_at_most, check_per_example_path, display, labels_for,
                         open_run, run_data, save_figure, test_set, write_per_example)


def anomaly(args):
    """Anomaly scores of the test images by negative ELBO and by reconstruction error.

    With --ood-dataset or --ood-data-dir: how well each score tells that data set's
    test images from the run's own (``out_of_distribution``). Otherwise a threshold on each
    score at a percentile of the training scores, and for a run trained with --holdout-class
    the ROC-AUC of telling the held-out class from the rest."""
    from sklearn.metrics import roc_auc_score

    if args.per_example:
        check_per_example_path(args.per_example)
    if not 0 < args.percentile < 100:
        raise ValueError(f"--percentile must lie in (0, 100); got {args.percentile}")
    model, config = open_run(args.run)
    if args.ood_dataset or args.ood_data_dir:
        return out_of_distribution(args, model, config)
    seen = run_data(config).data  # the images it trained on (held-out class, validation out)
    X_train = test_targets(seen.X_train, config.binarize)
    X_test, y_test = test_set(config)
    y_train, y_test_labels = labels_for(model, seen.y_train), labels_for(model, y_test)
    train_scores = anomaly_scores(model, X_train, y_train)
    test_scores = anomaly_scores(model, X_test, y_test_labels)
    few = slice(REGRET_THRESHOLD_IMAGES)  # the slow score's threshold from fewer images
    (train_regret, test_regret), cost = timed_regret(
        args, model, [(X_train[few], None if y_train is None else y_train[few]),
                      (X_test, y_test_labels)])
    names, units = ["negative ELBO", "squared reconstruction error"], [" nats", ""]
    if cost:
        train_scores, test_scores = (*train_scores, train_regret), (*test_scores, test_regret)
        names.append("likelihood regret")
        units.append(" nats")
        print(f"likelihood regret: {cost:.1f} ms per image ({args.regret_steps} steps); its "
              f"threshold from the first {len(train_regret)} training images")
    held = None if config.holdout_class is None else y_test == config.holdout_class
    if held is not None and not held.any():
        print(f"npvae anomaly: warning: the test set holds no image of the held-out class "
              f"{config.holdout_class}: no ROC-AUC for it", file=sys.stderr)
        held = None
    panels = []
    for name, unit, train, test in zip(names, units, train_scores, test_scores):
        threshold = float(np.percentile(train, args.percentile))
        flagged = test > threshold
        print(f"threshold: {name} {threshold:.2f}{unit}, the {args.percentile:g}th percentile "
              f"of {len(train)} training images; {flagged.mean():.1%} of {len(X_test)} test "
              "images lie above it")
        scores = {"train": train, "test": test}
        if held is not None:
            scores = {"train": train, "test, seen classes": test[~held],
                      f"test, class {config.holdout_class} (held out)": test[held]}
            print(f"  held-out class {config.holdout_class}: {flagged[held].mean():.1%} of its "
                  f"{held.sum()} test images flagged, against {flagged[~held].mean():.1%} of "
                  "the rest")
        panels.append({"scores": scores, "threshold": threshold, "title": name,
                       "xlabel": name + (" (nats)" if unit else "")})
    if args.per_example:  # each test image's two scores
        columns = {"index": np.arange(len(X_test)), "label": y_test,
                   "neg_elbo": test_scores[0], "squared_error": test_scores[1]}
        if cost:
            columns["regret"] = test_scores[2]
        if held is not None:
            columns["held_out"] = held
        write_per_example(args.per_example, columns)
    if held is not None:
        aucs = [f"{roc_auc_score(held, scores):.3f} by {name}"
                for name, scores in zip(names, test_scores)]
        print(f"ROC-AUC for detecting class {config.holdout_class}: {', '.join(aucs)}")
    save_figure(plots.histogram_panels(panels, f"Anomaly scores ({config.dataset}), threshold "
                                       f"at the {args.percentile:g}th percentile of training"),
                Path(args.run) / "anomaly.png")
    return 0


OOD_UNITS = {"neg_elbo": "nats", "iwae": "nats", "reconstruction": "sq. err.",
             "code_length": "bits", "compressed": "bits", "complexity": "bits",
             "regret": "nats"}
OOD_TITLES = {"neg_elbo": "negative ELBO", "iwae": "IWAE negative log-likelihood",
              "reconstruction": "squared reconstruction error",
              "code_length": "the model's code length", "compressed": "zlib's code length",
              "complexity": "model bits - zlib bits", "regret": "Likelihood Regret"}
REGRET_THRESHOLD_IMAGES = 2_000  # training images whose regret sets its threshold


def timed_regret(args, model, sets):
    """Likelihood Regret of each array of images in ``sets`` (a progress bar on a terminal), and
    its cost in ms per image; (a None for each set, None) with --regret-steps 0."""
    if not args.regret_steps:
        return [None] * len(sets), None
    start, images = time.perf_counter(), sum(len(X) for X, _ in sets)
    scores = [likelihood_regret(model, X, y, steps=args.regret_steps, random_state=args.seed,
                                progress=sys.stderr.isatty()) for X, y in sets]
    return scores, 1000 * (time.perf_counter() - start) / images


def out_of_distribution(args, model, config):
    """The run's test set (in-distribution) against another data set's test images (the
    positives), by each score of ``npvae.evaluation.ood.ood_scores``: a table, ood.json and
    ood.png."""
    if model.n_classes:
        raise ValueError("out-of-distribution scores need a plain run: a conditional model "
                         "scores an image only together with a label of its own classes")
    if config.standardize:
        raise ValueError("out-of-distribution scores compare the model's code length with a "
                         "compressor's for images in [0, 1]: they need a run not trained "
                         "--standardize")
    if args.ood_data_dir:
        option, name = f"--ood-data-dir {args.ood_data_dir}", Path(args.ood_data_dir).resolve().name
        X_out, _, shape = load_idx_test(args.ood_data_dir)
    else:
        option, name = f"--ood-dataset {args.ood_dataset}", args.ood_dataset
        try:
            other = load_dataset(args.ood_dataset)
        except DownloadError as error:  # (its message names train's flags)
            raise DataError(f"--ood-dataset {args.ood_dataset} could not be downloaded "
                            f"({error.reason}); give a folder of its t10k IDX files with "
                            "--ood-data-dir DIR instead") from None
        X_out, shape = other.X_test, other.image_shape
        if args.ood_dataset == config.dataset:
            print(f"npvae anomaly: warning: --ood-dataset {args.ood_dataset} is the run's own "
                  "data set: its test images score as the in-distribution ones (AUROC 0.5)",
                  file=sys.stderr)
    if tuple(shape) != tuple(config.image_shape):
        raise ValueError(f"{option} holds {shape[0]}x{shape[1]} images; the run's model takes "
                         f"{config.image_shape[0]}x{config.image_shape[1]}")
    X_in, _ = test_set(config)
    X_out = test_targets(X_out, config.binarize)
    binary = config.binarize != "none"
    coded = ("binary images (the run was trained --binarize)" if binary else
             "8-bit images (the decoder's output as a distribution over 256 grey levels)")
    print(f"scoring {len(X_in)} test images of {config.dataset} (in-distribution) and "
          f"{len(X_out)} of {name} (out, the positives); IWAE with k = {args.iwae_k}")
    if model.likelihood == "bernoulli":
        print(f"code lengths of {coded}")
    else:
        print("code lengths: not computed (a Gaussian likelihood is a density, no code of "
              "the image), so no code_length or complexity score; zlib's length of the 8-bit "
              "image alone (compressed)")
    start = time.perf_counter()
    scores_in = ood_scores(model, X_in, args.iwae_k, args.seed, binary=binary)
    scores_out = ood_scores(model, X_out, args.iwae_k, args.seed, binary=binary)
    others = 1000 * (time.perf_counter() - start) / (len(X_in) + len(X_out))
    (regret_in, regret_out), cost = timed_regret(args, model, [(X_in, None), (X_out, None)])
    print(f"cost: {others:.1f} ms per image for the other scores together"
          + (f", {cost:.1f} for likelihood regret ({args.regret_steps} steps)" if cost else ""))
    if cost:
        scores_in["regret"], scores_out["regret"] = regret_in, regret_out
    results = {score: {**detection_metrics(scores_in[score], scores_out[score]),
                       "mean_in": float(scores_in[score].mean()),
                       "mean_out": float(scores_out[score].mean()), "unit": OOD_UNITS[score]}
               for score in scores_in}
    print(f"{'score':15s} {'unit':8s} {'mean in':>9s} {'mean out':>9s} {'AUROC':>6s} "
          f"{'AUPR':>6s} {'FPR@95%TPR':>10s}")
    for score, r in results.items():
        print(f"{score:15s} {r['unit']:8s} {r['mean_in']:9.2f} {r['mean_out']:9.2f} "
              f"{r['auroc']:6.3f} {r['aupr']:6.3f} {r['fpr95']:10.3f}")
    print("higher score = more anomalous; AUROC 0.5 is chance, below it the score ranks the "
          f"other images as the more ordinary ({len(X_out) / (len(X_in) + len(X_out)):.0%} of "
          "the images are positives: the AUPR of chance). "
          + ("complexity = code_length - compressed; " if "complexity" in results else "")
          + "compressed alone is the baseline (its AUROC far from 0.5, either way, says the "
          "two sets differ in complexity alone)")
    if args.per_example:  # both sets' images, in then out, with every score
        write_per_example(args.per_example, {
            "set": np.repeat(["in", "out"], [len(X_in), len(X_out)]),
            "index": np.r_[np.arange(len(X_in)), np.arange(len(X_out))],
            **{score: np.r_[scores_in[score], scores_out[score]] for score in scores_in}})
    folder = Path(args.run)
    summary = {"in": config.dataset, "out": name, "iwae_k": args.iwae_k,
               "regret_steps": args.regret_steps,
               "images_coded": ("none (Gaussian likelihood)" if model.likelihood != "bernoulli"
                                else "binary" if binary else "8-bit"), "scores": results}
    write_text_atomically(folder / "ood.json", json.dumps(summary, indent=1))
    print(f"wrote {folder / 'ood.json'}")
    panels = [{"scores": {f"in: {config.dataset}": scores_in[score],
                          f"out: {name}": scores_out[score]},
               "threshold": None, "title": f"{OOD_TITLES[score]}, AUROC {r['auroc']:.2f}",
               "xlabel": OOD_UNITS[score]} for score, r in results.items()]
    save_figure(plots.histogram_panels(panels, f"A {config.dataset} model scores {name}"),
                folder / "ood.png")
    return 0


def uncertainty(args):
    """What the model is unsure of: the posterior standard deviations of a few test images, the
    spread of the decoder's output over draws from q(z | x) (uncertainty.png), and the test
    images with the highest and the lowest IWAE negative log-likelihood (least_most_sure.png)."""
    check_at_most("n", args.n, MAX_COLUMNS, "images in a row")
    if args.samples < 2:
        raise ValueError(f"--samples must be at least 2; got {args.samples}")
    model, config = open_run(args.run)
    X_test, y_test = test_set(config)
    y = labels_for(model, y_test)
    n = min(args.n, len(X_test))
    x, labels = X_test[:n], None if y is None else y[:n]
    _, logvar = model.encode(x, labels)
    print(f"posterior standard deviation of each of the {model.latent_dim} latent dimensions, "
          f"first {n} test images (about 1, the prior's: a dimension the image does not use)")
    for i, row in enumerate(np.exp(0.5 * logvar)):
        print(f"image {i:2d}: " + " ".join(f"{v:.2f}" for v in row))
    mean, sd = predictive_moments(model, x, args.samples, random_state=args.seed, y=labels)
    print(f"decoder output over {args.samples} draws from q(z | x): pixel standard deviation "
          f"up to {sd.max():.3f}, {sd.mean():.4f} on average")
    folder, shown = Path(args.run), display(config)
    if config.standardize:  # the spread in the data's units too
        sd = sd * run_data(config).standardizer.scale.astype(sd.dtype)
    x, mean = shown(x), shown(mean)
    save_figure(plots.predictive_maps(x, mean, sd, config.image_shape,
                                      f"Decoder output over {args.samples} draws from q(z | x)"),
                folder / "uncertainty.png")
    nll = iwae_nll_per_example(model, X_test, args.iwae_k, random_state=args.seed, y=y,
                               progress=sys.stderr.isatty())
    order = np.argsort(nll, kind="stable")
    least, most = order[::-1][:n], order[:n]
    print(f"IWAE negative log-likelihood (k = {args.iwae_k}) of the {len(X_test)} test images: "
          f"{nll.min():.1f} to {nll.max():.1f} nats, median {np.median(nll):.1f}")
    grids = [(shown(X_test[least]), f"Least sure: the {n} highest NLL ({nll[least[-1]]:.0f} to "
                             f"{nll[least[0]]:.0f} nats)"),
             (shown(X_test[most]), f"Most sure: the {n} lowest NLL ({nll[most[0]]:.0f} to "
                            f"{nll[most[-1]]:.0f} nats)")]
    save_figure(plots.image_grids(grids, config.image_shape, min(n, 8)),
                folder / "least_most_sure.png")
    return 0
