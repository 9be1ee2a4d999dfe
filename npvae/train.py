"""Training: minibatch Adam on the negative ELBO, with exact checkpoints and resume.

Everything random in training (the shuffle, the noise eps, dynamic binarization) is drawn from the
model's Generator, and its state is saved with every checkpoint, so a resumed run continues with
the very numbers an uninterrupted run would have drawn: the parameters come out bit-identical.
"""

import contextlib
import time

import numpy as np
from tqdm.auto import tqdm

from . import reference
from .checkpoint import restore, save_checkpoint
from .coupled import CoupledParallel
from .data import binarize, is_byte_pixels, take_rows
from .evaluation import evaluate
from .optim import Adam, ReferenceAdam
from .parallel import DataParallel
from .params import check_positive_int
from .vae import KL_AT_CAP, LOGVAR_MAX, LossParts

BINARIZE = ("none", "static", "dynamic")
ENGINES = ("fast", "reference")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or the KL as large as a posterior at the log-variance
    cap gives: numbers the cap keeps finite, but no longer a model."""


class ReferencePass:
    """``forward_backward`` by ``npvae.reference``: plain functions, fresh arrays, one thread.

    The engine ``fit(..., engine="reference")`` uses, to step through in a debugger: it hands the
    model's named parameters to ``reference.forward`` and ``reference.backward`` and copies the
    gradients into ``model.params.grad``. Only the model reference.py writes out: Bernoulli
    likelihood, ReLU, no labels.
    """

    def __init__(self, model):
        if model.likelihood != "bernoulli" or model.activation != "relu" or model.n_classes:
            raise ValueError("the reference engine trains the VAE of npvae/reference.py: Bernoulli "
                             f"likelihood, ReLU, no labels; got likelihood={model.likelihood!r}, "
                             f"activation={model.activation!r}, n_classes={model.n_classes}")
        self.model = model

    def blas_per_thread(self):
        return contextlib.nullcontext()

    def forward_backward(self, x, eps, beta=None, y=None):
        beta = self.model.beta if beta is None else beta
        params = self.model.params.values
        cache = reference.forward(params, x, eps)
        for name, grad in reference.backward(params, cache, beta).items():
            self.model.params.grads[name][...] = grad
        rec, kl = float(cache["rec"].mean()), float(cache["kl"].mean())
        return LossParts(rec + beta * kl, rec, kl)


def test_targets(X_test, binarize_mode):
    """The test set as training sees it: binarized once with a fixed seed unless mode is "none"."""
    return X_test if binarize_mode == "none" else binarize(X_test, random_state=0)


def fit(model, X_train, epochs=10, batch_size=128, lr=1e-3, X_test=None, binarize_mode="none",
        warmup_epochs=0, optimizer=None, checkpoint_path=None, resume=False, train_config=None,
        progress=False, callback=None, y_train=None, y_test=None, engine="fast"):
    """Train ``model`` on ``X_train`` (N, D) and return the history, one dict per epoch.

    Args:
        epochs: the total number of epochs (a resumed run goes on until it has this many).
        binarize_mode: "none" (grey-level targets), "static" (one Bernoulli sample of the data,
            drawn once) or "dynamic" (a fresh Bernoulli sample of each batch, every epoch).
        warmup_epochs: KL warm-up; epoch e (from 0) uses ``beta * min(1, e / warmup_epochs)``.
        optimizer: default ``Adam(model.params, lr)``.
        checkpoint_path: where to save a checkpoint after every epoch (atomically).
        resume: continue from ``checkpoint_path`` (model, optimizer, Generator, history).
        train_config: a JSON-able dict saved in the checkpoint (the command line's options).
        progress: show a tqdm bar over the batches with the running loss.
        callback: called with the history so far after each epoch, once its checkpoint is written.
        y_train, y_test: labels, for a conditional model (``n_classes > 0``).
        engine: "fast" (each batch in two shares on two cores, ``npvae.parallel``) or
            "reference" (``npvae.reference``'s plain functions and ``ReferenceAdam``: one
            thread, fresh arrays, slow; for reading and debugging). In float64 both give the
            same numbers to round-off.

    Each record: epoch, beta, train_loss / train_reconstruction / train_kl (means over the epoch's
    batches) and, with X_test, test_loss / test_reconstruction / test_kl (``evaluate``), seconds.
    Losses are negative ELBOs in nats per example (reconstruction + KL).
    """
    if binarize_mode not in BINARIZE:
        raise ValueError(f"binarize_mode must be one of {BINARIZE}; got {binarize_mode!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, np.integer)) \
            or warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be an integer >= 0; got {warmup_epochs!r}")
    # issue 17 hook: 0/1 pixels kept as uint8 (the full sprites set, 3 GB as bytes) stay bytes,
    # each batch made floats as it is gathered
    X_train = X_train if is_byte_pixels(model, X_train) else model.check_input(X_train)
    y_train = model.check_labels(y_train, len(X_train)) if model.n_classes else None
    if X_test is not None:
        X_test = test_targets(model.check_input(X_test), binarize_mode)
        y_test = model.check_labels(y_test, len(X_test)) if model.n_classes else None
    if engine == "reference":
        if getattr(model, "couples_rows", False):  # issue 17 hook
            raise ValueError("the reference engine trains the VAE of npvae/reference.py; "
                             f"a {type(model).__name__} trains with engine='fast'")
        backprop = ReferencePass(model)
        optimizer = optimizer or ReferenceAdam(model.params, lr=lr)
    else:
        # each batch in two shares of rows, one per core; a loss that couples the rows
        # (TCVAE, FactorVAE) in the three stages of npvae.coupled (issue 17 hook)
        engine_class = CoupledParallel if getattr(model, "couples_rows", False) else DataParallel
        backprop = engine_class(model)
        optimizer = optimizer or Adam(model.params, lr=lr, work=backprop.spare)
    history, start_epoch = [], 0
    if resume:
        meta = restore(model, optimizer, checkpoint_path)
        history, start_epoch = meta["history"], meta["epoch"]
    # one fixed sample, the same in a resumed run (0/1 bytes are a sample of themselves)
    if binarize_mode == "static" and X_train.dtype == model.dtype:
        X_train = binarize(X_train, random_state=1)
    n = len(X_train)
    # reused for every batch (fresh memory each step costs page faults): the gathered rows, and
    # their Bernoulli sample for dynamic binarization
    batch = np.empty((min(batch_size, n), X_train.shape[1]), model.dtype)
    sample = np.empty_like(batch)
    trained_below_cap = False  # reaching the cap after that is divergence
    for epoch in range(start_epoch, epochs):
        began = time.perf_counter()
        beta = model.beta * min(1.0, epoch / warmup_epochs) if warmup_epochs else model.beta
        order = model.rng.permutation(n)
        sums = np.zeros(2)  # reconstruction, kl, summed over examples
        batches = range(0, n, batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        with backprop.blas_per_thread():
            for i, start in enumerate(bar):
                rows = order[start:start + batch_size]
                xb = take_rows(X_train, rows, batch[:len(rows)])  # (B, D)
                if binarize_mode == "dynamic":
                    xb = binarize(xb, model.rng, out=sample[:len(rows)])
                yb = None if y_train is None else y_train[rows]
                parts = backprop.forward_backward(xb, model.draw_eps(len(xb)), beta, yb)
                at_cap = parts.kl * len(xb) >= KL_AT_CAP  # a KL only the cap keeps finite
                if not np.isfinite(parts.total) or (at_cap and trained_below_cap):
                    kept = (f"; the checkpoint of epoch {epoch} is kept"
                            if checkpoint_path and epoch > 0 else "")
                    what = (f"the loss became {parts.total}" if not np.isfinite(parts.total) else
                            f"the KL reached {parts.kl:.3g} nats per example, as if a log-variance "
                            f"had hit its cap of {LOGVAR_MAX:g}")
                    raise TrainingDiverged(
                        f"training diverged: {what} at epoch {epoch + 1}, batch {i + 1}{kept}. "
                        "Try a smaller learning rate, or data scaled to a few units")
                trained_below_cap |= not at_cap  # (a model may start there, on unscaled data)
                optimizer.step()
                sums += len(xb) * np.array([parts.reconstruction, parts.kl])
                if i % 20 == 0:
                    bar.set_postfix(loss=f"{parts.reconstruction + parts.kl:.2f}")
        rec, kl = (float(v) for v in sums / n)
        record = {"epoch": epoch + 1, "beta": beta, "train_loss": rec + kl,
                  "train_reconstruction": rec, "train_kl": kl}
        if X_test is not None:
            test = evaluate(model, X_test, y=y_test)
            record.update(test_loss=test["loss"], test_reconstruction=test["reconstruction"],
                          test_kl=test["kl"])
        record["seconds"] = time.perf_counter() - began
        history.append(record)
        if checkpoint_path is not None:
            save_checkpoint(checkpoint_path, model, optimizer, epoch + 1, history, train_config)
        if callback is not None:
            callback(history)
    return history
