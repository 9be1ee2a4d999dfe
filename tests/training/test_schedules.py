import math

import pytest

from npvae.training.schedules import Cosine, ReduceOnPlateau, kl_factor, lr_schedule_from


def test_the_warm_up_is_step_by_step_and_may_be_fractional():
    steps = 10  # per epoch
    factors = [kl_factor(t, steps, 40, warmup_epochs=2) for t in range(40)]
    assert factors[0] == pytest.approx(1 / 20)  # the first step trains at beta / (W S), not 0
    assert factors[19] == 1 and all(f == 1 for f in factors[19:])
    assert all(b > a for a, b in zip(factors[:19], factors[1:20]))
    half = [kl_factor(t, steps, 40, warmup_epochs=0.5) for t in range(10)]
    assert half[4] == 1 and half[3] == pytest.approx(0.8)  # half an epoch: 5 steps
    assert kl_factor(0, steps, 40) == 1  # no schedule


def test_with_epochs_2_and_warmup_2_the_last_steps_train_at_beta():
    """The complaint about whole-epoch warm-up: the final model never trained at beta 1."""
    assert kl_factor(19, 10, 20, warmup_epochs=2) == 1


def test_the_cyclical_schedule_restarts_each_cycle():
    total, cycles = 40, 4  # cycles of 10 steps, rising over the first 5
    factors = [kl_factor(t, 10, total, cycles=cycles, ratio=0.5) for t in range(total)]
    assert factors[:10] == factors[10:20] == factors[30:40]
    assert factors[0] == 0 and factors[1] == pytest.approx(0.2) and factors[5:10] == [1] * 5


def test_cosine_anneals_from_lr_towards_its_floor():
    cosine = Cosine(min_lr=1e-4)
    rates = [cosine(e, 10, 1e-3, []) for e in range(10)]
    assert rates[0] == 1e-3 and rates[5] == pytest.approx(5.5e-4)
    assert all(b < a for a, b in zip(rates, rates[1:])) and rates[-1] > 1e-4


def records(losses, key="val_loss"):
    return [{key: value, "train_loss": 0.0} for value in losses]


def test_reduce_on_plateau_halves_after_patience_epochs_without_a_new_best():
    plateau = ReduceOnPlateau(factor=0.5, patience=2)
    history = records([10, 9, 9.5, 9.2, 9.1, 8, 8.5, 8.5, 8.5])
    rates = [plateau(len(history[:e]), 20, 1.0, history[:e]) for e in range(len(history) + 1)]
    # epochs 3, 4 and 5 bring no new best (9): the rate halves once 2 have passed, after epoch 5
    assert rates == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_reduce_on_plateau_watches_the_validation_loss_if_there_is_one():
    history = [{"train_loss": 10 - e, "val_loss": 5.0} for e in range(6)]
    assert ReduceOnPlateau(patience=1)(6, 10, 1.0, history) < 1  # val stalls
    assert ReduceOnPlateau(patience=1, monitor="train_loss")(6, 10, 1.0, history) == 1
    assert ReduceOnPlateau(patience=1)(6, 10, 1.0, [{"train_loss": 10 - e} for e in range(6)]) == 1


def test_schedule_names_and_mistakes():
    assert lr_schedule_from(None) is None and lr_schedule_from("none") is None
    assert isinstance(lr_schedule_from("cosine"), Cosine)
    assert isinstance(lr_schedule_from("plateau"), ReduceOnPlateau)
    own = lambda epoch, epochs, lr, history: lr * math.exp(-epoch)  # noqa: E731
    assert lr_schedule_from(own) is own
    for wrong in ("linear", 3):
        with pytest.raises(ValueError, match="lr_schedule must be"):
            lr_schedule_from(wrong)
    with pytest.raises(ValueError, match="factor must lie in"):
        ReduceOnPlateau(factor=1.5)
