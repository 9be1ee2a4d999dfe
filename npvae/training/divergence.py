"""When training has diverged: the rule ``fit`` applies after every epoch."""

import numpy as np

from ..data.dataset import binarize, take_rows


class TrainingDiverged(RuntimeError):
    """Training cannot recover: a loss became NaN or infinite, or two epochs in a row ended with
    a mean negative ELBO more than ``DIVERGED`` times the untrained model's and the second no
    lower, or the last epoch did (see ``fit``)."""


# An epoch whose mean negative ELBO is more than this many times the untrained model's is a bad
# epoch; two bad epochs in a row without a fall, or a bad last epoch, are divergence. Twice, not
# once: the two losses are measured with different noise, a model that learns slowly sits near
# the untrained one's, and a KL warm-up lets the KL grow for a while.
DIVERGED = 2
ADVICE = "Try a smaller learning rate, or data scaled to a few units"


def untrained_loss(model, X_train, y_train, binarize_mode, work, rows=2000):
    """The untrained model's mean negative ELBO (reconstruction + KL, nats per example) on up to
    ``rows`` evenly spaced training images (all of them in a small set), as training sees them
    (dynamic binarization: one fixed sample), with fixed noise. Draws nothing from the model's
    Generator, so training's numbers do not depend on it. ``work``: a (B, D) array of the
    model's dtype to gather rows into."""
    rng = np.random.default_rng(0)
    picked = np.unique(np.linspace(0, len(X_train) - 1, min(rows, len(X_train))).astype(int))
    total = 0.0
    for start in range(0, len(picked), len(work)):
        chosen = picked[start:start + len(work)]
        xb = take_rows(X_train, chosen, work[:len(chosen)])
        if binarize_mode == "dynamic":
            xb = binarize(xb, rng)
        eps = rng.standard_normal((len(xb), model.latent_dim), dtype=model.dtype)
        rec, kl = model.per_example_loss(xb, eps, None if y_train is None else y_train[chosen])
        total += float(rec.sum() + kl.sum())
    return total / len(picked)


def limit(untrained, excess=DIVERGED - 1):
    """The worst mean negative ELBO of an epoch that is not bad: U + excess max(|U|, 1) for the
    untrained model's U, DIVERGED times U by default (the max: a Gaussian density can give
    U < 1, even U < 0)."""
    return untrained + excess * max(abs(untrained), 1.0)


def is_bad(record, untrained):
    """True for an epoch record whose mean negative ELBO is above ``limit(untrained)``, or not
    a number."""
    loss = record.get("train_loss")
    return loss is not None and not loss <= limit(untrained)


def kept(history, checkpoint_path, untrained):
    """'; the checkpoint of epoch E is kept': the last epoch whose checkpoint was written."""
    if not checkpoint_path:
        return ""
    good = [r["epoch"] for r in history if not is_bad(r, untrained)]
    return (f"; the checkpoint of epoch {good[-1]} is kept" if good else
            "; no epoch was good enough to write a checkpoint")


def non_finite(error, history, checkpoint_path, untrained):
    """The TrainingDiverged error for a loss that became NaN or infinite (``error`` says where)."""
    where = kept(history, checkpoint_path, untrained)
    return TrainingDiverged(f"training diverged: {error}{where}. {ADVICE}")


def not_recovering(history, untrained):
    """True if the last two epochs were both bad and the second no better than the first."""
    return (len(history) > 1 and is_bad(history[-2], untrained)
            and not history[-1]["train_loss"] < history[-2]["train_loss"])


def diverged(history, checkpoint_path, untrained, last):
    """The TrainingDiverged error for a run that ends on a bad epoch (``last``), or for two
    bad epochs without a fall."""
    bad = history[-1:] if last and not not_recovering(history, untrained) else history[-2:]
    epochs = " and ".join(str(r["epoch"]) for r in bad)
    losses = ", ".join(f"{r['train_loss']:.4g}" for r in bad)
    how = "when training ended" if len(bad) == 1 else "and did not fall"
    return TrainingDiverged(
        f"training diverged: the mean negative ELBO of epoch{'s' * (len(bad) > 1)} {epochs} "
        f"({losses} nats per example) is above {limit(untrained):.4g}, {DIVERGED} times the "
        f"untrained model's {untrained:.4g}, {how}{kept(history, checkpoint_path, untrained)}. "
        f"{ADVICE}")
