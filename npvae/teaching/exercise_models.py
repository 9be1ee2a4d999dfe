"""The exercises whose answer is not a single layer: the centred difference itself (exercise 0),
Adam (exercise 6) and the whole VAE (exercise 7). See ``npvae.teaching.exercises`` for how answers
are judged; every expected number comes from ``npvae.reference``.
"""

import numpy as np

from .. import reference
from ..nn.layers import Dense
from ..nn.params import Parameters
from .exercises import (N, Verdict, Wrong, answer_gradients, gradient_verdict, interface, numeric,
                        parameter_verdicts, values_verdict)
from .gradcheck import compare, rel_error, resolvable_floor
from .student import CouldNotCheck

# ---- exercise 0: the centred difference and the relative error ---------------------------------

def check_difference(student, rng):
    """``numerical_gradient(f, x)`` on f(x) = sum(sin(x) * w), whose gradient is w * cos(x), and
    ``rel_error(a, n)`` from the same file on numbers whose answer is known."""
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    before = x.copy()
    f = lambda: float(np.sum(np.sin(x) * w))  # noqa: E731
    got = student.call("numerical_gradient(f, x)", student.obj, f, x)
    verdicts = [Verdict("x holds its values again afterwards", np.array_equal(x, before),
                        "restore each x[i] after perturbing it")]
    if np.shape(got) != x.shape:
        return verdicts + [Verdict(f"returns an array of x's shape {x.shape}", False,
                                   f"got shape {np.shape(got)}")]
    row = compare("gradient", got, w * np.cos(before), tol=1e-8)
    if 1e-8 < row.worst_error < 1e-3:
        row.note = ("an error of the order of h: a one-sided difference (f(x + h) - f(x)) / h? "
                    "The centred (f(x + h) - f(x - h)) / (2 h) is accurate to h^2. Or h far too "
                    "small, so that round-off dominates")
    verdicts.append(gradient_verdict(row, "the gradient of sum(sin(x) w), within 1e-8", got))
    rel = getattr(student.module, "rel_error", None)
    if not callable(rel):
        raise CouldNotCheck(f"{student.file.name} has no function rel_error(a, n): exercise 0 "
                            "asks for it beside numerical_gradient")
    zeros = student.call("rel_error(0, 0)", rel, np.zeros(2), np.zeros(2))
    verdicts.append(values_verdict("rel_error(0, 0) is 0", zeros, [0.0, 0.0], tol=1e-12,
                                   advice="where a = n = 0 the error is 0, not 0 / 0: that is "
                                   "what the floor max(1e-8, ...) is for"))
    a, n = np.array([1.0, 2.0, 1e-3, -3.0]), np.array([1.0, -2.0, 2e-3, 1.0])
    got = student.call("rel_error(a, n)", rel, a, n)
    verdicts.append(values_verdict("rel_error gives |a - n| / max(1e-8, |a| + |n|)", got,
                                   [0.0, 1.0, 1 / 3, 1.0], tol=1e-12))
    return verdicts


# ---- exercise 6: Adam --------------------------------------------------------------------------

def run_adam(student, params, gradients, lr, betas, eps, label, show=False):
    """Verdicts for steps of the student's Adam on ``params``, read back through the views."""
    optimizer = student.call(f"{student.obj.__name__}(params, {lr}, {betas}, {eps})",
                             student.obj, params, lr, betas, eps)
    if not callable(getattr(optimizer, "step", None)):
        raise CouldNotCheck(f"{student.spec} has no method step")
    vector, views = params.vector, dict(params.values)  # what the model's layers hold
    expected = {name: value.copy() for name, value in params.values.items()}
    state, verdicts = None, []
    for t, g in enumerate(gradients, 1):
        params.grad[...] = g
        grads = {name: params.grads[name].copy() for name in params.names}
        before = vector.copy()  # the views, in order
        student.call("step", optimizer.step)
        expected, state = reference.adam_step(expected, grads, state, lr, betas, eps)
        want = np.concatenate([expected[name].ravel() for name in params.names])
        got = vector.copy()  # read back through the model's own vector, as its layers see it
        passed = bool(rel_error(got, want, floor=1e-12).max() <= 1e-10)  # False for NaN
        what = f"{label}, step {t}" + (f": theta = {np.round(want, 6).tolist()}" if show else "")
        detail = f"expected {_numbers(want)}\nyours    {_numbers(got)}"
        moved = np.abs(got - before)
        error = float(rel_error(got, want, floor=1e-12).max())
        replaced = [name for name in params.names if params.values[name] is not views[name]]
        if params.vector is not vector:
            detail += ("\nparams.vector was replaced by a new array, so the model's named views "
                       "(params.values) still hold the old numbers: update it in place, "
                       "params.vector -= ... or params.vector[...] = ...")
        elif replaced:
            detail += (f"\nparams.values[{replaced[0]!r}] was replaced by a new array, which "
                       "the model's layers never see: update the view in place, "
                       "params.values[name] -= ... (or update params.vector)")
        elif np.array_equal(got, before):
            detail += "\nstep changed no parameter that the model's views can see"
        elif t == 1 and show and not np.allclose(moved, lr, rtol=1e-3):
            detail += (f"\nat step 1, m_hat = g and v_hat = g^2, so every parameter moves by lr "
                       f"= {lr:g} against the sign of its gradient; yours moved by "
                       f"{_numbers(moved)}: the bias corrections 1 - beta^t, with t from 1?")
        elif error < 1e-5:
            detail += ("\nclose, but not the textbook's numbers: where does eps enter? "
                       "theta -= lr * m_hat / (sqrt(v_hat) + eps), after the bias corrections")
        verdicts.append(Verdict(what, passed, detail))
        if not np.array_equal(params.grad, g):
            verdicts.append(Verdict("step leaves params.grad alone", False,
                                    "step changed the gradient it was given"))
        if not passed:
            break
    return verdicts


def _numbers(values):
    return np.array2string(np.asarray(values), precision=10, separator=", ",
                           max_line_width=10_000)


def check_adam(student, rng):
    """The exercise's example by hand, other hyperparameters on several views, and gradients as
    small as eps (where a misplaced eps shows)."""
    example = Parameters([("layer", Dense(1, 1))], np.float64)
    example.vector[...] = [1.0, -2.0]
    verdicts = run_adam(student, example, [[0.5, -1.0], [0.1, 0.3]], 0.1, (0.9, 0.999), 1e-8,
                        "the exercise's example", show=True)

    def model():  # 9 parameters in 4 named views
        return Parameters([("first", Dense(2, 2, rng)), ("second", Dense(2, 1, rng))], np.float64)
    verdicts += run_adam(student, model(), [rng.standard_normal(9) for _ in range(4)], 0.01,
                         (0.8, 0.99), 1e-8, "lr 0.01, betas (0.8, 0.99), 9 parameters")
    small = run_adam(student, model(), [1e-8 * rng.standard_normal(9) for _ in range(3)], 0.01,
                     (0.9, 0.999), 1e-8, "gradients as small as eps")
    if all(v.passed for v in verdicts) and not all(v.passed for v in small):
        small[-1].detail += ("\nonly where the gradient is as small as eps do your numbers "
                             "differ: eps goes outside the square root, after the bias "
                             "corrections: theta -= lr * m_hat / (sqrt(v_hat) + eps)")
    return verdicts + small


# ---- exercise 7: the whole VAE -----------------------------------------------------------------

D, H, K = 6, 5, 2  # MyVAE(6, 5, 2, beta): 6-5-2 encoder, 2-5-6 decoder, batch N = 7


def well_placed(rng):
    """Parameters (reference.py's names, nonzero biases), x and eps such that no ReLU input lies
    within 0.01 of its kink, where finite differences would cross it."""
    while True:
        values = reference.init_params(D, (H,), K, random_state=rng)
        for name in values:
            values[name] += 0.3 * rng.standard_normal(values[name].shape)
        x, eps = rng.random((N, D)), rng.standard_normal((N, K))
        cache = reference.forward(values, x, eps)
        if min(np.abs(cache[f"{layer}.out"]).min() for layer in ("encoder.0", "decoder.0")) > 0.01:
            return values, x, eps


def loss_advice(loss, cache, beta):
    """What a wrong loss value matches, if anything."""
    rec, kl = cache["rec"].mean(), cache["kl"].mean()
    for value, advice in ((N * (rec + beta * kl), "the sum over the batch: the loss is the mean"),
                          (rec + kl, "rec + KL without beta: the loss is rec + beta * KL"),
                          (rec, "the reconstruction alone: the KL term is missing"),
                          (rec - beta * kl, "the KL enters with a minus: loss = rec + beta KL")):
        if abs(loss - value) <= 1e-8 * abs(value):
            return f"yours equals {advice}"
    return ""


def run_vae(student, rng, beta):
    """(model, values, x, eps, loss) after building the answer and one forward pass."""
    model = student.call(f"{student.obj.__name__}({D}, {H}, {K}, {beta})", student.obj,
                         D, H, K, beta)
    shapes = tuple((name, value.shape)
                   for name, value in reference.init_params(D, (H,), K).items())
    verdicts = interface(student, model, shapes, f"the {len(shapes)} arrays named in "
                         "npvae/reference.py's docstring, for hidden_dims=(5,)")
    if not verdicts[-1].passed:
        return model, verdicts, None
    values, x, eps = well_placed(rng)
    for name, value in values.items():
        model.params[name][...] = value
    return model, verdicts, (values, x, eps)


def check_vae(student, rng):
    """``MyVAE(D, H, K, beta)`` with ``forward(x, eps)`` -> the batch-mean loss and ``backward()``
    filling ``grads``, under reference.py's parameter names."""
    beta = 0.5
    model, verdicts, inputs = run_vae(student, rng, beta)
    if inputs is None:
        return verdicts
    values, x, eps = inputs
    x_given, eps_given = x.copy(), eps.copy()
    loss = student.call("forward(x, eps)", model.forward, x_given, eps_given)
    if np.ndim(loss) != 0 or not numeric(loss):
        return verdicts + [Verdict("forward returns the loss, one number", False,
                                   f"got {type(loss).__name__} of shape {np.shape(loss)}: the "
                                   "mean over the batch")]
    cache = reference.forward(values, x, eps)
    expected, expected_grads = reference.loss_and_grads(values, x, eps, beta)
    verdicts.append(values_verdict(f"forward: mean of rec + beta KL over the batch (beta {beta})",
                                   loss, expected,
                                   advice=loss_advice(float(loss), cache, beta)))
    changed = [name for name, before, after in (("x", x, x_given), ("eps", eps, eps_given))
               if not np.array_equal(before, after)]
    verdicts.append(Verdict("forward leaves x and eps unchanged", not changed,
                            f"forward changed {' and '.join(changed)}: work on copies"))
    again = student.call("forward(x, eps)", model.forward, x.copy(), eps.copy())
    verdicts.append(Verdict("forward gives the same loss twice", float(again) == float(loss)))
    try:
        student.call("backward()", model.backward)
        grads = answer_gradients(model, values)
        student.call("backward()", model.backward)
        again = answer_gradients(model, values)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]
    verdicts.append(Verdict("backward overwrites: a second call gives the same",
                            all(np.allclose(again[name], grads[name], rtol=1e-12, atol=0)
                                for name in values),
                            "write self.grads[name] = ..., do not add to them (+=)"))
    f = lambda: float(student.call("forward(x, eps)", model.forward, x, eps))  # noqa: E731
    floor = resolvable_floor(f())
    factors = ((N, "N times the right value: the loss is a mean, so every gradient carries 1/N"),
               (1 / beta, "1/beta times the right value: beta is missing from a KL gradient"))
    params = {name: model.params[name] for name in values}
    verdicts += parameter_verdicts(f, params, grads, model.grads, factors, floor)
    failed = [v for v in verdicts if v.what.startswith("gradient of") and not v.passed]
    no_kl = reference.loss_and_grads(values, x, eps, 0.0)[1]  # the reconstruction's alone
    if failed and all(np.allclose(grads[name], no_kl[name], rtol=1e-9, atol=1e-12)
                      for name in ("mu_head.W", "logvar_head.W")):
        failed[0].detail += ("\nyour gradients are those of the reconstruction alone: the KL's "
                             "own gradient into mu and logvar is missing (dmu += beta * mu / N, "
                             "dlogvar += beta * (exp(logvar) - 1) / (2 N))")

    # beta = 1, against the reference's gradients directly
    model, _, (values, x, eps) = run_vae(student, rng, 1.0)
    loss = student.call("forward(x, eps)", model.forward, x, eps)
    student.call("backward()", model.backward)
    expected, expected_grads = reference.loss_and_grads(values, x, eps, 1.0)
    if not numeric(loss):
        return verdicts + [Verdict("forward returns the loss, one number", False,
                                   f"with beta = 1 it returned {type(loss).__name__}")]
    errors = [float(rel_error(float(loss), expected, 1e-12))]
    try:
        answer = answer_gradients(model, values)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]
    for name in values:
        grad = answer[name]
        same_shape = grad.shape == values[name].shape
        errors.append(float(rel_error(grad, expected_grads[name], 1e-8).max()) if same_shape
                      else np.inf)
    worst = max(errors)
    verdicts.append(Verdict(f"with beta = 1: loss and gradients equal npvae.reference's "
                            f"(worst {worst:.1e})", worst <= 1e-7))
    failed = [v for v in verdicts if v.what.startswith("gradient of") and not v.passed]
    if failed and worst <= 1e-7:
        failed[0].detail += ("\nright at beta = 1 but not at beta = 0.5: is beta missing from "
                             "the KL's gradients?")
    return verdicts


MODELS = {"difference": ("Exercise 0: the centred difference", check_difference),
          "adam": ("Exercise 6: Adam", check_adam),
          "vae": ("Exercise 7: the whole VAE", check_vae)}
