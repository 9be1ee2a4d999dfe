"""Training: minibatch Adam on the negative ELBO, with exact checkpoints and resume.

Everything random in training (the shuffle, the noise eps, dynamic binarization) is drawn from the
model's Generator, and its state is saved with every checkpoint, so a resumed run continues with
the very numbers an uninterrupted run would have drawn: the parameters come out bit-identical.
"""

import time

import numpy as np
from tqdm.auto import tqdm

from ..data.dataset import binarize, is_byte_pixels, take_rows
from ..evaluation.elbo import evaluate
from ..nn.checkpoint import restore, save_checkpoint
from ..nn.optim import Adam
from ..utils.validation import check_positive_int
from .divergence import (ADVICE, TrainingDiverged, diverged, is_bad, kept, not_recovering,
                         untrained_loss)
from .parallel import CoupledParallel, DataParallel
from .reference_engine import ReferenceAdam, ReferencePass
from .schedules import check_warmup, kl_factor, lr_schedule_from

BINARIZE = ("none", "static", "dynamic")
ENGINES = ("fast", "reference")


def test_targets(X_test, binarize_mode):
    """The test set as training sees it: binarized once with a fixed seed unless mode is "none"."""
    return X_test if binarize_mode == "none" else binarize(X_test, random_state=0)


def fit(model, X_train, epochs=10, batch_size=128, lr=1e-3, X_test=None, binarize_mode="none",
        warmup_epochs=0, optimizer=None, checkpoint_path=None, resume=False, train_config=None,
        progress=False, callback=None, y_train=None, y_test=None, engine="fast", X_val=None,
        y_val=None, patience=None, lr_schedule=None, kl_cycles=0, kl_cycle_ratio=0.5):
    """Train ``model`` on ``X_train`` (N, D) and return the history, one dict per epoch.

    Args:
        epochs: the total number of epochs (a resumed run goes on until it has this many).
        binarize_mode: "none" (grey-level targets), "static" (one Bernoulli sample of the data,
            drawn once) or "dynamic" (a fresh Bernoulli sample of each batch, every epoch).
        X_val, y_val: a validation set, evaluated after every epoch (``val_loss``, ...): the set
            to select on (early stopping, a plateau schedule), so that the test set is not.
        patience: early stopping: stop once ``patience`` epochs have passed without a lower
            validation loss (needs X_val), and end with the weights of the epoch that had the
            lowest, whether training stopped early or ran out of epochs.
        lr_schedule: None (constant), "cosine", "plateau", or a callable
            ``(epoch, epochs, lr, history) -> lr`` (``npvae.training.schedules``), setting
            ``optimizer.lr`` before each epoch.
        warmup_epochs: KL warm-up, step by step: beta rises linearly from beta / (W S) at the
            first step to beta after W epochs of S steps (W may be fractional).
        kl_cycles, kl_cycle_ratio: instead of the warm-up, the cyclical schedule of Fu et al.
            (2019): M cycles over the run, beta rising from 0 over the first ``kl_cycle_ratio``
            of each and held for the rest (``npvae.training.schedules.kl_factor``).
        optimizer: default ``Adam(model.params, lr)``; any optimizer with ``step()``,
            ``state_dict()`` and ``load_state_dict()`` (and an ``lr`` attribute, for a schedule).
        checkpoint_path: where to save a checkpoint after every epoch (atomically).
        resume: continue from ``checkpoint_path`` (model, optimizer, Generator, history).
        train_config: a JSON-able dict saved in the checkpoint (the command line's options).
        progress: show a tqdm bar over the batches with the running loss.
        callback: ``callback(record, model)`` after each epoch, once its checkpoint is written
            (a bad epoch has none, see below); returning True stops training there, and ``fit``
            returns the history as it is, bad epoch or not.
        y_train, y_test: labels, for a conditional model (``n_classes > 0``).
        engine: "fast" (each batch in two shares on two cores, ``npvae.training.parallel``) or
            "reference" (``npvae.reference``'s plain functions and ``ReferenceAdam``: one
            thread, fresh arrays, slow; for reading and debugging). In float64 both give the
            same numbers to round-off.

    Divergence (``TrainingDiverged``) is judged on what training cannot recover from, not on
    one batch's spike: a loss that is NaN or infinite (at once: it poisons Adam's moments), or
    an epoch whose mean negative ELBO exceeds ``DIVERGED`` (2) times the untrained model's
    (measured before the first step on up to 2,000 training images) when the epoch before it
    did too and this one is no lower, or when training ends on it (the last epoch, or early
    stopping with no good epoch to go back to). A bad epoch that is the first, or lower than
    the bad one before it, may recover (a large first step often does) and training goes on,
    but its checkpoint is not written, and early stopping never picks it: the file keeps the
    last good epoch, from which a resumed run replays the same numbers.

    Each record: epoch, lr, beta (the mean of the epoch's steps), train_loss /
    train_reconstruction / train_kl (means over the epoch's batches), with X_val val_loss /
    val_reconstruction / val_kl and with X_test test_loss / ... (``evaluate``), seconds; for a
    model with ``epoch_record()`` (FactorVAE: its discriminator's loss, accuracy and TC
    estimate) what that returns. Losses are negative ELBOs in nats per example (reconstruction +
    KL), whatever beta.
    """
    if binarize_mode not in BINARIZE:
        raise ValueError(f"binarize_mode must be one of {BINARIZE}; got {binarize_mode!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    warmup_epochs = check_warmup(warmup_epochs)
    if isinstance(kl_cycles, bool) or not isinstance(kl_cycles, (int, np.integer)) \
            or kl_cycles < 0:
        raise ValueError(f"kl_cycles must be an integer >= 0; got {kl_cycles!r}")
    if kl_cycles and warmup_epochs:
        raise ValueError("choose one KL schedule: warmup_epochs or kl_cycles, not both")
    if not 0 < kl_cycle_ratio <= 1:
        raise ValueError(f"kl_cycle_ratio must lie in (0, 1]; got {kl_cycle_ratio!r}")
    if patience is not None:
        patience = check_positive_int("patience", patience)
        if X_val is None:
            raise ValueError("early stopping (patience) watches the validation loss: pass X_val")
    schedule = lr_schedule_from(lr_schedule)
    # 0/1 pixels kept as uint8 (the full sprites set, 3 GB as bytes) stay bytes, each batch made
    # floats as it is gathered
    X_train = X_train if is_byte_pixels(model, X_train) else model.check_input(X_train)
    y_train = model.check_labels(y_train, len(X_train)) if model.n_classes else None
    X_val, y_val = held_out(model, X_val, y_val, binarize_mode)
    X_test, y_test = held_out(model, X_test, y_test, binarize_mode)
    backprop, optimizer = training_engine(model, engine, optimizer, lr)
    if schedule is not None and not hasattr(optimizer, "lr"):
        raise ValueError(f"a learning-rate schedule sets optimizer.lr; "
                         f"{type(optimizer).__name__} has no lr")
    base_lr = getattr(optimizer, "lr", lr)
    history, start_epoch, best = [], 0, None  # best: the weights of the lowest val_loss
    untrained = None  # the untrained model's negative ELBO: see DIVERGED
    stopped = False  # by the callback
    if resume:
        meta = restore(model, optimizer, checkpoint_path)
        history, start_epoch = meta["history"], meta["epoch"]
        for key in ("untrained_loss", "untrained_reconstruction"):  # (the latter: older files)
            if untrained is None and key in meta["fit_arrays"]:
                untrained = float(meta["fit_arrays"][key])
        if patience is not None and "last_params" in meta["fit_arrays"]:
            best = model.params.vector.copy()  # the checkpoint's model: the best so far
            model.params.vector[...] = meta["fit_arrays"]["last_params"]  # training goes on
    # one fixed sample, the same in a resumed run (0/1 bytes are a sample of themselves)
    if binarize_mode == "static" and X_train.dtype == model.dtype:
        X_train = binarize(X_train, random_state=1)
    n = len(X_train)
    steps = -(-n // batch_size)  # per epoch
    # reused for every batch (fresh memory each step costs page faults): the gathered rows, and
    # their Bernoulli sample for dynamic binarization
    batch = np.empty((min(batch_size, n), X_train.shape[1]), model.dtype)
    sample = np.empty_like(batch)
    if untrained is None:
        untrained = untrained_loss(model, X_train, y_train, binarize_mode, batch)
    for epoch in range(start_epoch, epochs):
        if patience is not None and epochs_without_progress(history, untrained) >= patience:
            break  # (also a resumed run that had stopped early)
        began = time.perf_counter()
        if schedule is not None:
            optimizer.lr = float(schedule(epoch, epochs, base_lr, history))
        order = model.rng.permutation(n)
        if hasattr(model, "epoch_record"):
            model.epoch_record()  # sums from 0 (an epoch interrupted in this process left some)
        sums = np.zeros(3)  # reconstruction and kl summed over examples, beta over steps
        bar = tqdm(range(0, n, batch_size), desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not progress)
        with backprop.blas_per_thread():
            for i, start in enumerate(bar):
                beta = model.beta * kl_factor(epoch * steps + i, steps, epochs * steps,
                                              warmup_epochs, kl_cycles, kl_cycle_ratio)
                rows = order[start:start + batch_size]
                xb = take_rows(X_train, rows, batch[:len(rows)])  # (B, D)
                if binarize_mode == "dynamic":
                    xb = binarize(xb, model.rng, out=sample[:len(rows)])
                yb = None if y_train is None else y_train[rows]
                parts = backprop.forward_backward(xb, model.draw_eps(len(xb)), beta, yb)
                if not np.isfinite(parts.total):
                    raise TrainingDiverged(
                        f"training diverged: the loss became {parts.total} at epoch "
                        f"{epoch + 1}, batch {i + 1}{kept(history, checkpoint_path, untrained)}."
                        f" {ADVICE}")
                optimizer.step()
                sums += [len(xb) * parts.reconstruction, len(xb) * parts.kl, beta]
                if i % 20 == 0:
                    bar.set_postfix(loss=f"{parts.reconstruction + parts.kl:.2f}")
        rec, kl = (float(v) for v in sums[:2] / n)
        record = {"epoch": epoch + 1, "lr": float(getattr(optimizer, "lr", lr)),
                  "beta": float(sums[2] / steps), "train_loss": rec + kl,
                  "train_reconstruction": rec, "train_kl": kl}
        if hasattr(model, "epoch_record"):  # FactorVAE: its discriminator's epoch
            record.update(model.epoch_record())
        for name, X, y in (("val", X_val, y_val), ("test", X_test, y_test)):
            if X is not None:
                result = evaluate(model, X, y=y)
                record.update({f"{name}_loss": result["loss"],
                               f"{name}_reconstruction": result["reconstruction"],
                               f"{name}_kl": result["kl"]})
        record["seconds"] = time.perf_counter() - began
        history.append(record)
        bad = is_bad(record, untrained)
        if patience is not None and not bad and not epochs_without_progress(history, untrained):
            best = model.params.vector.copy()
        if checkpoint_path is not None and not bad:
            state = {"untrained_loss": untrained}
            if best is not None:
                state["last_params"] = model.params.vector
            save_checkpoint(checkpoint_path, model, optimizer, epoch + 1, history, train_config,
                            params=best, fit_arrays=state)
        stopped = callback is not None and callback(record, model) is True
        if stopped:
            break  # the caller's stop, bad epoch or not
        if bad and not_recovering(history, untrained):
            raise diverged(history, checkpoint_path, untrained, last=False)
    if best is not None:
        model.params.vector[...] = best  # early stopping: the best good epoch's weights
    elif history and not stopped and is_bad(history[-1], untrained):  # ends on a bad model
        raise diverged(history, checkpoint_path, untrained, last=True)
    return history


def held_out(model, X, y, binarize_mode):
    """A validation or test set as training sees it (checked, targets binarized as in
    ``test_targets``) and its labels; (None, None) without one."""
    if X is None:
        return None, None
    X = test_targets(model.check_input(X), binarize_mode)
    return X, (model.check_labels(y, len(X)) if model.n_classes else None)


def training_engine(model, engine, optimizer, lr):
    """What computes each batch's gradient (``forward_backward``), and the optimizer."""
    if engine == "reference":
        if getattr(model, "couples_rows", False) or model.free_bits:
            raise ValueError("the reference engine trains the VAE of npvae/reference.py; "
                             f"a {type(model).__name__}"
                             f"{' with free bits' if model.free_bits else ''} trains with "
                             "engine='fast'")
        return ReferencePass(model), optimizer or ReferenceAdam(model.params, lr=lr)
    # each batch in two shares of rows, one per core; a loss that couples the rows (TCVAE,
    # FactorVAE, free bits) in the three stages of npvae.models.coupled
    coupled = getattr(model, "couples_rows", False) or model.free_bits
    backprop = (CoupledParallel if coupled else DataParallel)(model)
    return backprop, optimizer or Adam(model.params, lr=lr, work=backprop.spare)


def epochs_without_progress(history, untrained):
    """Epochs since the one with the lowest val_loss (0: the last epoch is the best); a bad
    epoch (``is_bad``, given the untrained model's loss) is never the best."""
    losses = [np.inf if is_bad(record, untrained) else record.get("val_loss", np.inf)
              for record in history]
    losses = np.where(np.isnan(losses), np.inf, losses)  # a NaN is never the best
    return len(losses) - 1 - int(np.argmin(losses)) if len(losses) else 0


