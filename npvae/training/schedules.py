"""Schedules: the KL weight step by step, and the learning rate epoch by epoch.

Each is a pure function of where training is (the step, or the history of finished epochs), with
no state of its own, so a resumed run computes exactly the values an uninterrupted run would.

KL weight: ``fit`` trains step t (0, 1, ..., T - 1 over the whole run, S steps an epoch) with
``beta * factor(t)``, factor in [0, 1]:

    constant                          1
    linear warm-up over W epochs      min(1, (t + 1) / (W S))         (Bowman et al. 2016)
    cyclical, M cycles, ratio R       min(1, tau / R),  tau = (t mod L) / L,  L = T / M
                                                                      (Fu et al. 2019)
W may be fractional (half an epoch: W = 0.5). With the warm-up, the first step trains at
beta / (W S), never at 0, and every step from the W S-th on at beta itself. The cyclical schedule
restarts at 0 at the start of each of its M cycles, rises linearly over the fraction R of the
cycle, and holds 1 for the rest (Fu et al.: M = 4, R = 0.5).

Learning rate: ``schedule(epoch, epochs, lr, history) -> the learning rate of that epoch`` (epoch
from 0; history, ``fit``'s records of the epochs before it):

    cosine (Loshchilov & Hutter 2017)   min_lr + (lr - min_lr) (1 + cos(pi e / E)) / 2
    ReduceOnPlateau                     lr * factor^r, r: the times the monitored loss went more
                                        than ``patience`` epochs without a new best
"""

import inspect
import math

import numpy as np


def check_warmup(warmup_epochs):
    """Return ``warmup_epochs`` as a float >= 0, or raise ValueError."""
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, float, np.number)) \
            or not (np.isfinite(warmup_epochs) and warmup_epochs >= 0):
        raise ValueError(f"warmup_epochs must be a number >= 0 (epochs, fractions allowed); got "
                         f"{warmup_epochs!r}")
    return float(warmup_epochs)


def kl_factor(step, steps_per_epoch, total_steps, warmup_epochs=0.0, cycles=0, ratio=0.5):
    """The factor of beta at ``step`` (from 0): the constant 1, the linear warm-up over
    ``warmup_epochs`` or, with ``cycles`` >= 1, the cyclical schedule (see the module)."""
    if cycles:
        length = total_steps / cycles  # steps per cycle
        tau = (step % length) / length
        return min(1.0, tau / ratio)
    if warmup_epochs:
        return min(1.0, (step + 1) / max(1.0, warmup_epochs * steps_per_epoch))
    return 1.0


class Cosine:
    """Cosine annealing over the run: epoch e of E trains at
    ``min_lr + (lr - min_lr) * (1 + cos(pi * e / E)) / 2``, from lr down towards ``min_lr``."""

    def __init__(self, min_lr=0.0):
        if not (np.isfinite(min_lr) and min_lr >= 0):
            raise ValueError(f"min_lr must be a finite number >= 0; got {min_lr!r}")
        self.min_lr = float(min_lr)

    def __call__(self, epoch, epochs, lr, history):
        return self.min_lr + (lr - self.min_lr) * (1 + math.cos(math.pi * epoch / epochs)) / 2

    def __repr__(self):
        return f"Cosine(min_lr={self.min_lr})"


class ReduceOnPlateau:
    """Multiply the learning rate by ``factor`` each time the monitored loss has gone more than
    ``patience`` epochs without improving on its best by more than ``threshold`` (relative), as
    PyTorch's ``ReduceLROnPlateau``; never below ``min_lr``.

    ``monitor``: the record's key to watch; None: "val_loss" if the records have it, else
    "train_loss" (never the test loss: selecting on it would make it a validation loss).
    """

    def __init__(self, factor=0.5, patience=2, threshold=1e-4, min_lr=0.0, monitor=None):
        if not 0 < factor < 1:
            raise ValueError(f"factor must lie in (0, 1); got {factor!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) \
                or patience < 0:
            raise ValueError(f"patience must be an integer >= 0; got {patience!r}")
        if not (np.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"threshold must be a finite number >= 0; got {threshold!r}")
        if not (np.isfinite(min_lr) and min_lr >= 0):
            raise ValueError(f"min_lr must be a finite number >= 0; got {min_lr!r}")
        self.factor, self.patience, self.threshold = float(factor), int(patience), threshold
        self.min_lr, self.monitor = float(min_lr), monitor

    def __call__(self, epoch, epochs, lr, history):
        key = self.monitor or ("val_loss" if history and "val_loss" in history[0] else
                               "train_loss")
        best, waited = math.inf, 0
        for record in history:  # the whole history, replayed: no state to save
            loss = record[key]
            if best == math.inf or loss < best - self.threshold * abs(best):
                best, waited = loss, 0
            else:
                waited += 1
                if waited > self.patience:
                    lr, waited = max(self.min_lr, lr * self.factor), 0
        return lr

    def __repr__(self):
        return (f"ReduceOnPlateau(factor={self.factor}, patience={self.patience}, "
                f"threshold={self.threshold}, min_lr={self.min_lr}, monitor={self.monitor!r})")


LR_SCHEDULES = {"cosine": Cosine, "plateau": ReduceOnPlateau}


def lr_schedule_from(schedule):
    """None (a constant learning rate), "cosine", "plateau" (their defaults) or a callable
    ``(epoch, epochs, lr, history) -> lr``, as a callable (None for a constant rate)."""
    if schedule is None or schedule == "none":
        return None
    if isinstance(schedule, str):
        if schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be None, one of {sorted(LR_SCHEDULES)} or a "
                             f"callable; got {schedule!r}")
        return LR_SCHEDULES[schedule]()
    expected = (f"lr_schedule must be None, one of {sorted(LR_SCHEDULES)} or a callable "
                "(epoch, epochs, lr, history) -> lr")
    if not callable(schedule):
        raise ValueError(f"{expected}; got {schedule!r}")
    try:
        inspect.signature(schedule).bind(0, 1, 1e-3, [])
    except TypeError:
        raise ValueError(f"{expected}; {schedule!r} does not take those four arguments") \
            from None
    except ValueError:  # a builtin without a signature: it is called as it is
        pass
    return schedule
