"""Training: minibatch Adam on the negative ELBO, with exact checkpoints and resume.

``fit`` is a short sequence of named steps:

    check the arguments and the data        (``check_schedules``, ``held_out``)
    pick the engine and the optimizer       (``training_engine``)
    start, or resume from a checkpoint      (``start_or_resume``)
    measure the untrained model's loss      (``npvae.training.divergence.untrained_loss``)
    for each epoch:
        stop early if the validation loss no longer falls   (``epochs_without_progress``)
        set the learning rate                                (the schedule)
        one pass over the shuffled batches                   (``train_epoch``)
        the validation and test losses                       (``held_out_losses``)
        keep the best weights, write the checkpoint          (``save_progress``)
        the callback, then the divergence rule               (``npvae.training.divergence``)
    end with the best weights, or refuse a run that ends on a bad epoch   (``finish``)

Everything random in training (the shuffle, the noise eps, dynamic binarization) is drawn from the
model's Generator, and its state is saved with every checkpoint, so a resumed run continues with
the very numbers an uninterrupted run would have drawn: the parameters come out bit-identical.
"""

import json
import math
import numbers
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from tqdm.auto import tqdm

from ..data.dataset import binarize, is_byte_pixels, take_rows
from ..evaluation.elbo import evaluate
from ..models.importance import check_memory
from ..models.registry import check_usable
from ..nn.checkpoint import first_not_finite, restore, save_checkpoint
from ..nn.optim import Adam
from ..utils.validation import check_positive_int
from .divergence import diverged, is_bad, non_finite, not_recovering, untrained_loss
from .parallel import CoupledParallel, DataParallel
from .reference_engine import ReferenceAdam, ReferencePass
from .schedules import check_warmup, kl_factor, lr_schedule_from

BINARIZE = ("none", "static", "dynamic")
ENGINES = ("fast", "reference")


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
    KL), whatever beta; a model with a Monte Carlo KL (objective="iwae") also records
    train_bound, minus the bound it trains on (at beta = 1 and k > 1, below train_loss).
    """
    if binarize_mode not in BINARIZE:
        raise ValueError(f"binarize_mode must be one of {BINARIZE}; got {binarize_mode!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    warmup_epochs = check_schedules(warmup_epochs, kl_cycles, kl_cycle_ratio)
    if patience is not None:
        patience = check_positive_int("patience", patience)
        if X_val is None:
            raise ValueError("early stopping (patience) watches the validation loss: pass X_val")
    schedule = lr_schedule_from(lr_schedule)
    check_learning_rate("lr", lr)
    check_callables(callback, optimizer, resume, checkpoint_path)
    check_train_config(train_config)
    # 0/1 pixels kept as uint8 (the full sprites set, 3 GB as bytes) stay bytes, each batch made
    # floats as it is gathered
    X_train = X_train if is_byte_pixels(model, X_train) else model.check_input(X_train)
    for name, labels in (("y_train", y_train), ("y_val", y_val), ("y_test", y_test)):
        if labels is not None and not model.n_classes:
            raise ValueError(f"{name} holds labels, but {type(model).__name__} is not "
                             "conditional (n_classes=0): leave it out, or build a conditional "
                             "model")
    y_train = model.check_labels(y_train, len(X_train)) if model.n_classes else None
    if getattr(model, "dataset_size", len(X_train)) != len(X_train):
        raise ValueError(f"the model's dataset_size is {model.dataset_size}, but X_train has "
                         f"{len(X_train)} rows: the minibatch estimators weigh by the number of "
                         "training examples (build the model with dataset_size=len(X_train))")
    X_val, y_val = held_out(model, X_val, y_val, binarize_mode)
    X_test, y_test = held_out(model, X_test, y_test, binarize_mode)

    backprop, optimizer = training_engine(model, engine, optimizer, lr)
    bound = getattr(optimizer, "params", model.params)
    if getattr(bound, "vector", None) is not model.params.vector:
        raise ValueError("the optimizer updates another model's parameters: build it with this "
                         "model's, e.g. Adam(model.params)")
    if schedule is not None and not hasattr(optimizer, "lr"):
        raise ValueError(f"a learning-rate schedule sets optimizer.lr; "
                         f"{type(optimizer).__name__} has no lr")
    base_lr = getattr(optimizer, "lr", lr)
    state = start_or_resume(model, optimizer, checkpoint_path if resume else None, patience)
    # one fixed sample, the same in a resumed run (0/1 bytes are a sample of themselves)
    if binarize_mode == "static" and X_train.dtype == model.dtype:
        X_train = binarize(X_train, random_state=1)
    batches = Batches.of(model, X_train, y_train, batch_size, binarize_mode)
    if getattr(model, "monte_carlo", False):
        check_memory(model, len(batches.rows))
    if state.untrained is None:
        state.untrained = untrained_loss(model, X_train, y_train, binarize_mode, batches.rows)
    kl = KLSchedule(model.beta, epochs, batches.steps, warmup_epochs, kl_cycles, kl_cycle_ratio)

    for epoch in range(state.start_epoch, epochs):
        if patience is not None and epochs_without_progress(state.history,
                                                            state.untrained) >= patience:
            break  # (also a resumed run that had stopped early)
        began = time.perf_counter()
        if schedule is not None:
            optimizer.lr = check_learning_rate(
                f"lr_schedule's value at epoch {epoch + 1}",
                schedule(epoch, epochs, base_lr, list(state.history)))
        try:
            record = train_epoch(model, backprop, optimizer, batches, kl, epoch,
                                 float(getattr(optimizer, "lr", lr)), progress)
        except FloatingPointError as error:  # a NaN or infinite loss
            raise non_finite(error, state.history, checkpoint_path, state.untrained) from None
        record.update(held_out_losses(model, ("val", X_val, y_val), ("test", X_test, y_test)))
        record["seconds"] = time.perf_counter() - began
        overflowed = first_not_finite(model, optimizer)  # a finite loss, but not all else
        if overflowed is not None:
            raise non_finite(f"{overflowed} held NaN or inf after epoch {epoch + 1}",
                             state.history, checkpoint_path, state.untrained) from None
        state.history.append(record)
        bad = is_bad(record, state.untrained)
        if patience is not None and not bad and not epochs_without_progress(state.history,
                                                                             state.untrained):
            state.best = model.params.vector.copy()
        if checkpoint_path is not None and not bad:
            save_progress(checkpoint_path, model, optimizer, state, train_config)
        stop = None if callback is None else callback(record, model)
        state.stopped = isinstance(stop, (bool, np.bool_)) and bool(stop)  # np.True_ too
        if state.stopped:
            break  # the caller's stop, bad epoch or not
        if bad and not_recovering(state.history, state.untrained):
            raise diverged(state.history, checkpoint_path, state.untrained, last=False)
    return finish(model, state, checkpoint_path)


def check_learning_rate(name, lr):
    """``lr`` as a float if it is a finite number > 0, or ValueError naming it."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) \
            or lr <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {lr!r}")
    return float(lr)  # (a Fraction or a NumPy number too)


def check_callables(callback, optimizer, resume, checkpoint_path):
    """The arguments ``fit`` calls or reads: TypeError or ValueError saying what was expected."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable callback(record, model); got {callback!r}")
    missing = [name for name in ("step", "state_dict", "load_state_dict")
               if optimizer is not None and not callable(getattr(optimizer, name, None))]
    if missing:
        raise TypeError(f"optimizer must have step(), state_dict() and load_state_dict(); "
                        f"{type(optimizer).__name__} lacks {', '.join(missing)}")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True continues from checkpoint_path: pass the checkpoint's path")
    if checkpoint_path is not None:
        if not isinstance(checkpoint_path, (str, os.PathLike)):
            raise TypeError(f"checkpoint_path must be a str or a path-like object; got "
                            f"{type(checkpoint_path).__name__}")
        if Path(checkpoint_path).is_dir():
            raise ValueError(f"checkpoint_path {checkpoint_path} is a folder: name the file")


def check_train_config(train_config):
    """``train_config`` as checkpoints store it: JSON (dicts, lists, numbers, strings)."""
    try:
        json.dumps(train_config)
    except (TypeError, ValueError) as error:
        raise TypeError(f"train_config must hold only what JSON holds (dicts, lists, numbers, "
                        f"strings); {error}") from None


def check_schedules(warmup_epochs, kl_cycles, kl_cycle_ratio):
    """Check the KL schedule's arguments (one of warm-up and cycles); returns warmup_epochs."""
    warmup_epochs = check_warmup(warmup_epochs)
    if isinstance(kl_cycles, bool) or not isinstance(kl_cycles, (int, np.integer)) \
            or kl_cycles < 0:
        raise ValueError(f"kl_cycles must be an integer >= 0; got {kl_cycles!r}")
    if kl_cycles and warmup_epochs:
        raise ValueError("choose one KL schedule: warmup_epochs or kl_cycles, not both")
    if isinstance(kl_cycle_ratio, bool) or not isinstance(kl_cycle_ratio, numbers.Real) \
            or not 0 < kl_cycle_ratio <= 1:
        raise ValueError(f"kl_cycle_ratio must lie in (0, 1]; got {kl_cycle_ratio!r}")
    return warmup_epochs


@dataclass
class TrainingState:
    """What ``fit`` carries from epoch to epoch, and what a checkpoint gives back.

    history: one record per epoch; start_epoch: the epochs already done; best: early stopping's
    weights of the best good epoch so far (P,), or None; untrained: the untrained model's mean
    negative ELBO (the divergence rule's yardstick); stopped: the callback asked to stop."""
    history: list = field(default_factory=list)
    start_epoch: int = 0
    best: Optional[np.ndarray] = None
    untrained: Optional[float] = None
    stopped: bool = False


def start_or_resume(model, optimizer, checkpoint_path, patience):
    """A fresh ``TrainingState``, or (with ``checkpoint_path``) the one a checkpoint holds, with
    the model, optimizer and Generator restored. With early stopping the checkpoint's model is
    the best epoch's; training goes on from the last epoch's weights, saved beside it."""
    state = TrainingState()
    if checkpoint_path is None:
        return state
    meta = restore(model, optimizer, checkpoint_path)
    check_usable(model, checkpoint_path)
    state.history, state.start_epoch = meta["history"], meta["epoch"]
    for key in ("untrained_loss", "untrained_reconstruction"):  # (the latter: older files)
        if state.untrained is None and key in meta["fit_arrays"]:
            state.untrained = float(meta["fit_arrays"][key])
    if patience is not None and "last_params" in meta["fit_arrays"]:
        state.best = model.params.vector.copy()  # the checkpoint's model: the best so far
        model.params.vector[...] = meta["fit_arrays"]["last_params"]  # training goes on
    return state


class Batches(NamedTuple):
    """The training set as the epoch loop gathers it.

    X (N, D) and y (N,) or None; size: rows per batch; binarize_mode; rows and sample: (B, D)
    work arrays of the model's dtype, reused for every batch (fresh memory each step costs page
    faults): the gathered rows, and their Bernoulli sample for dynamic binarization."""
    X: np.ndarray
    y: Optional[np.ndarray]
    size: int
    binarize_mode: str
    rows: np.ndarray
    sample: np.ndarray

    @classmethod
    def of(cls, model, X, y, size, binarize_mode):
        rows = np.empty((min(size, len(X)), X.shape[1]), model.dtype)
        return cls(X, y, size, binarize_mode, rows, np.empty_like(rows))

    @property
    def steps(self):
        """Batches per epoch."""
        return -(-len(self.X) // self.size)


class KLSchedule(NamedTuple):
    """beta at every step: the model's beta times ``npvae.training.schedules.kl_factor`` (a
    warm-up, cycles, or 1)."""
    beta: float
    epochs: int
    steps: int  # per epoch
    warmup_epochs: float
    cycles: int
    cycle_ratio: float

    def at(self, epoch, i):
        """beta at step i of epoch ``epoch`` (both from 0)."""
        return self.beta * kl_factor(epoch * self.steps + i, self.steps, self.epochs * self.steps,
                                     self.warmup_epochs, self.cycles, self.cycle_ratio)


def train_epoch(model, backprop, optimizer, batches, kl, epoch, lr, progress=False):
    """One pass over the training set in a fresh random order: for each batch, the gradient
    (``backprop.forward_backward``, with noise from the model's Generator) and an optimizer
    step. Returns the epoch's record: epoch, lr (as given), beta (the mean of its steps) and the
    training losses (means over examples); FloatingPointError at a loss that is NaN or
    infinite."""
    n = len(batches.X)
    order = model.rng.permutation(n)
    if hasattr(model, "epoch_record"):
        model.epoch_record()  # sums from 0 (an epoch interrupted in this process left some)
    sums = np.zeros(4)  # reconstruction, kl and the objective over examples, beta over steps
    bar = tqdm(range(0, n, batches.size), desc=f"epoch {epoch + 1}/{kl.epochs}", leave=False,
               disable=not progress)
    with backprop.blas_per_thread():
        for i, start in enumerate(bar):
            beta = kl.at(epoch, i)
            rows = order[start:start + batches.size]
            xb = take_rows(batches.X, rows, batches.rows[:len(rows)])  # (B, D)
            if batches.binarize_mode == "dynamic":
                xb = binarize(xb, model.rng, out=batches.sample[:len(rows)])
            yb = None if batches.y is None else batches.y[rows]
            parts = backprop.forward_backward(xb, model.draw_eps(len(xb)), beta, yb)
            if not np.isfinite(parts.total):
                raise FloatingPointError(f"the loss became {parts.total} at epoch {epoch + 1}, "
                                         f"batch {i + 1}")
            optimizer.step()
            sums += [len(xb) * parts.reconstruction, len(xb) * parts.kl, len(xb) * parts.total,
                     beta]
            if i % 20 == 0:
                bar.set_postfix(loss=f"{parts.reconstruction + parts.kl:.2f}")
    rec, kl_mean, objective = (float(v) for v in sums[:3] / n)
    record = {"epoch": epoch + 1, "lr": lr,
              "beta": float(sums[3] / batches.steps), "train_loss": rec + kl_mean,
              "train_reconstruction": rec, "train_kl": kl_mean}
    if getattr(model, "monte_carlo", False):  # minus the bound trained on, beside the ELBO
        record["train_bound"] = objective
    if hasattr(model, "epoch_record"):  # FactorVAE: its discriminator's epoch
        record.update(model.epoch_record())
    return record


def held_out_losses(model, *named_sets):
    """``{name}_loss``, ``{name}_reconstruction``, ``{name}_kl`` (``evaluate``) of each
    (name, X, y) whose X is not None."""
    losses = {}
    for name, X, y in named_sets:
        if X is not None:
            result = evaluate(model, X, y=y)
            losses.update({f"{name}_loss": result["loss"],
                           f"{name}_reconstruction": result["reconstruction"],
                           f"{name}_kl": result["kl"]})
    return losses


def save_progress(path, model, optimizer, state, train_config):
    """The checkpoint of a good epoch: with early stopping, the best epoch's weights as the
    model and the last epoch's to go on from; always the untrained loss."""
    arrays = {"untrained_loss": state.untrained}
    if state.best is not None:
        arrays["last_params"] = model.params.vector
    save_checkpoint(path, model, optimizer, len(state.history), state.history, train_config,
                    params=state.best, fit_arrays=arrays)


def finish(model, state, checkpoint_path):
    """The history, with the model at early stopping's best weights; TrainingDiverged if the
    run ends on a bad epoch (unless the callback stopped it)."""
    if state.best is not None:
        model.params.vector[...] = state.best  # early stopping: the best good epoch's weights
    elif state.history and not state.stopped and is_bad(state.history[-1], state.untrained):
        raise diverged(state.history, checkpoint_path, state.untrained, last=True)
    return state.history


def test_targets(X_test, binarize_mode):
    """The test set as training sees it: binarized once with a fixed seed unless mode is "none"."""
    return X_test if binarize_mode == "none" else binarize(X_test, random_state=0)


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


