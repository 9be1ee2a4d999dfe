"""The exercises whose answer is not a single layer: the centred difference itself (exercise 0)
and the whole VAE (exercise 7); Adam (exercise 6) has a module of its own. See
``npvae.teaching.exercises`` for how answers are judged; every expected number comes from
``npvae.reference``.
"""

import numpy as np

from .. import reference
from .gradcheck import compare, rel_error, resolvable_floor
from .student import CouldNotCheck
from .verdicts import (N, Verdict, Wrong, numbers, answer_gradients, attempt, differs,
                       float32_advice, gradient_verdict, interface, numeric, parameter_verdicts,
                       values_verdict, without_guesses)

# ---- exercise 0: the centred difference and the relative error ---------------------------------

def check_difference(student, rng):
    """``numerical_gradient(f, x)`` on f(x) = sum(sin(x) * w), whose gradient is w * cos(x); on a
    strided view x with h = 1e-3 passed, f(x) = sum(x^3 * w), whose centred difference is exactly
    w * (3 x^2 + h^2); and ``rel_error(a, n)`` from the same file on numbers whose answer is
    known."""
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x[1, 2] = 0.0  # a step relative to |x| would be 0 here
    before = x.copy()
    f = lambda: float(np.sum(np.sin(x) * w))  # noqa: E731
    got = student.call("numerical_gradient(f, x)", student.obj, f, x)
    restored = np.array_equal(x, before)
    verdicts = [Verdict("x holds its values again afterwards", restored,
                        "x is back only to within rounding: x[i] + h - 2h + h is not always "
                        "x[i] in floating point; save the old value and assign it back"
                        if not restored and np.allclose(x, before, rtol=1e-12, atol=1e-15)
                        else "restore each x[i] after perturbing it")]
    if np.shape(got) != x.shape:
        return verdicts + [Verdict(f"returns an array of x's shape {x.shape}", False,
                                   f"got shape {np.shape(got)}")]
    first = np.array(got, dtype=float, copy=True)
    row = compare("gradient", got, w * np.cos(before), tol=DIFFERENCE_TOL)
    row.against = "exact"
    if not np.isfinite(first[1, 2]):
        row.note = (f"yours is {first[1, 2]} where x = 0: a step relative to x (h * |x|) is 0 "
                    "there; h is an absolute step")
    elif DIFFERENCE_TOL < row.worst_error < 1e-2:
        row.note = ("an error far above round-off: a one-sided difference (f(x + h) - f(x)) / h, "
                    "whose error is of the order of h, or h far from 1e-5 (the row with h = 1e-3 "
                    "below tells which)")
    cube = strided_cube_verdict(student, rng)
    if not row.passed and cube.passed and np.isfinite(row.worst_error):
        row.note = ("with h = 1e-3 passed, your centred difference is exact (the row below), so "
                    "the default is off: numerical_gradient(f, x, h=1e-5)")
    verdicts.append(gradient_verdict(row, f"the gradient of sum(sin(x) w), within "
                                     f"{DIFFERENCE_TOL:g}", got))
    verdicts.append(cube)
    verdicts.append(Verdict("its result stays unchanged by the next call",
                            not isinstance(got, np.ndarray)
                            or np.array_equal(got, first, equal_nan=True),
                            "the array returned by the first call changed when numerical_gradient "
                            "ran again: return a new array each call"))
    return verdicts + rel_error_verdicts(student)


DIFFERENCE_TOL = 1e-8  # exercise 0's rows: a smooth function and an exact answer


def strided_cube_verdict(student, rng, h=1e-3):
    """f = sum(x^3 w) on a view x with a stride, h passed: (f(x+h) - f(x-h)) / 2h is exactly
    w (3 x^2 + h^2), so the h used can be read off the result."""
    base = rng.uniform(0.5, 1.5, (3, 8)) * rng.choice([-1, 1], (3, 8))
    w = rng.uniform(1, 2, (3, 4))
    x = base[:, :4]  # a column slice: not contiguous, and no flat view of it exists
    f = lambda: float(np.sum(x**3 * w))  # noqa: E731
    want = w * (3 * x**2 + h**2)
    what = f"numerical_gradient(f, x, h={h:g}) on a strided view x, f = sum(x^3 w)"
    got = student.call(f"numerical_gradient(f, x, h={h:g})", student.obj, f, x, h)
    if np.shape(got) != x.shape:
        return Verdict(what, False, f"got shape {np.shape(got)}, expected {x.shape}")
    got = np.asarray(got, dtype=float)
    errors = rel_error(got, want, floor=1e-12)
    if errors.max() <= DIFFERENCE_TOL:
        return Verdict(what, True)
    detail = f"expected {numbers(want.ravel()[:4])} ..., yours {numbers(got.ravel()[:4])} ..."
    implied = got / w - 3 * x**2  # h_used^2 for a centred difference
    if not got.any():
        detail += ("\nyour gradient is 0 everywhere: x is a view with a stride here (a column "
                   "slice), and x.reshape(-1) or x.flatten() of it is a copy, so perturbing that "
                   "copy changes nothing f sees; index x itself (for i in np.ndindex(x.shape))")
    elif np.all(implied > 0) and np.allclose(implied, implied.mean(), rtol=1e-3):
        detail += (f"\nthat is a centred difference with h = {np.sqrt(implied.mean()):.2g}, not "
                   f"the h = {h:g} passed: is the argument h used?")
    elif np.allclose(got, w * (3 * x**2 + 3 * x * h + h**2), rtol=1e-6):
        detail += ("\nthat is the one-sided (f(x + h) - f(x)) / h; the centred difference is "
                   "(f(x + h) - f(x - h)) / (2 h)")
    return Verdict(what, False, detail)


def rel_error_verdicts(student):
    """``rel_error`` from the answer's file: 0 at 0, the formula, its floor of 1e-8, and its
    arguments left as they were."""
    rel = getattr(student.module, "rel_error", None)
    if not callable(rel):
        raise CouldNotCheck(f"{student.file.name} has no function rel_error(a, n): exercise 0 "
                            "asks for it beside numerical_gradient")
    verdicts, changed = [], False
    cases = (("rel_error(0, 0) is 0", np.zeros(2), np.zeros(2), [0.0, 0.0],
              "where a = n = 0 the error is 0, not 0 / 0: that is what the floor max(1e-8, ...) "
              "is for"),
             ("rel_error gives |a - n| / max(1e-8, |a| + |n|)", np.array([1.0, 2.0, 1e-3, -3.0]),
              np.array([1.0, -2.0, 2e-3, 1.0]), [0.0, 1.0, 1 / 3, 1.0], ""),
             ("rel_error's floor is 1e-8", np.array([1e-7, 1e-9, -5e-9]), np.zeros(3),
              [1.0, 0.1, 0.5], "below |a| + |n| = 1e-8 the denominator is 1e-8, no more"))
    for what, a, n, want, advice in cases:
        a_given, n_given = a.copy(), n.copy()
        try:
            got = student.call(f"rel_error({numbers(a)}, {numbers(n)})", rel, a_given, n_given)
        except CouldNotCheck as error:
            verdicts.append(Verdict(what, False, f"{error}\nrel_error is passed arrays: "
                                    "np.abs and np.maximum work elementwise, Python's abs and "
                                    "max do not"))
            continue
        verdicts.append(values_verdict(what, got, want, tol=1e-12, advice=advice))
        changed |= not (np.array_equal(a_given, a) and np.array_equal(n_given, n))
    return verdicts + [Verdict("rel_error leaves its arguments unchanged", not changed,
                               "rel_error changed the arrays it was given (an in-place "
                               "np.abs(a, out=a)?): compute into new arrays")]


# ---- exercise 7: the whole VAE -----------------------------------------------------------------

D, H, K = 6, 5, 2  # MyVAE(6, 5, 2, beta): 6-5-2 encoder, 2-5-6 decoder, batch N = 7
OTHER = (9, 4, 3, 5)  # a second model, MyVAE(9, 4, 3, beta), on a batch of 5


def well_placed(rng, sizes=(D, H, K), rows=N):
    """Parameters (reference.py's names, nonzero biases), x and eps such that no ReLU input lies
    within 0.01 of its kink, where finite differences would cross it."""
    d, h, k = sizes
    while True:
        values = reference.init_params(d, (h,), k, random_state=rng)
        for name in values:
            values[name] += 0.3 * rng.standard_normal(values[name].shape)
        x, eps = rng.random((rows, d)), rng.standard_normal((rows, k))
        cache = reference.forward(values, x, eps)
        if min(np.abs(cache[f"{layer}.out"]).min() for layer in ("encoder.0", "decoder.0")) > 0.01:
            return values, x, eps


def loss_advice(loss, cache, beta):
    """What a wrong loss value matches, if anything."""
    rec, kl = cache["rec"].mean(), cache["kl"].mean()
    for value, advice in ((N * (rec + beta * kl), "the sum over the batch: the loss is the mean"),
                          (rec + kl, "rec + KL without beta: the loss is rec + beta * KL"),
                          (beta * rec + kl, "beta * rec + KL: beta weights the KL, not the "
                           "reconstruction"),
                          (rec, "the reconstruction alone: the KL term is missing"),
                          (rec - beta * kl, "the KL enters with a minus: loss = rec + beta KL")):
        if abs(loss - value) <= 1e-8 * abs(value):
            return f"yours equals {advice}"
    return ""


def build_vae(student, sizes, beta):
    """The answer's model, or raise Wrong if its params are not reference.py's arrays."""
    d, h, k = sizes
    model = student.call(f"{student.obj.__name__}({d}, {h}, {k}, {beta})", student.obj,
                         d, h, k, beta)
    shapes = tuple((name, value.shape)
                   for name, value in reference.init_params(d, (h,), k).items())
    verdict = interface(student, model, shapes, f"the {len(shapes)} arrays named in "
                        f"npvae/reference.py's docstring, for hidden_dims=({h},)")[-1]
    if not verdict.passed:
        raise Wrong(verdict)
    return model


def set_params(model, values):
    for name, value in values.items():
        model.params[name][...] = value


def vae_pass(student, model, values, x, eps, beta, label):
    """forward(x, eps) and backward() against npvae.reference: (the loss returned, "" or what
    differs)."""
    loss = attempt(student, f"forward(x, eps) on {label}", model.forward, x, eps)
    want, want_grads = reference.loss_and_grads(values, x, eps, beta)
    problem = differs(np.asarray(loss, dtype=float) if numeric(loss) else loss, want)
    if problem:
        return loss, f"the loss on {label}: {problem}"
    attempt(student, f"backward() on {label}", model.backward)
    grads = answer_gradients(model, values)
    for name in values:
        problem = differs(grads[name], want_grads[name])
        if problem:
            return loss, f"grads[{name!r}] on {label}: {problem}"
    return loss, ""


def check_vae(student, rng):
    """``MyVAE(D, H, K, beta)`` with ``forward(x, eps)`` -> the batch-mean loss and ``backward()``
    filling ``grads``, under reference.py's parameter names."""
    try:
        verdicts = []
        return vae_verdicts(student, rng, verdicts)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]


def vae_verdicts(student, rng, verdicts):
    beta = 0.5
    model = build_vae(student, (D, H, K), beta)
    verdicts.append(Verdict(f"params and grads hold the 10 arrays named in npvae/reference.py's "
                            f"docstring, for hidden_dims=({H},)", True))
    values, x, eps = well_placed(rng)
    set_params(model, values)
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
    student.call("backward()", model.backward)
    grads = answer_gradients(model, values)
    student.call("backward()", model.backward)
    again = answer_gradients(model, values)
    same = all(np.allclose(again[name], grads[name], rtol=1e-12, atol=0) for name in values)
    doubled = all(np.allclose(again[name], 2 * grads[name], rtol=1e-9, atol=0) for name in values)
    verdicts.append(Verdict("backward overwrites: a second call gives the same", same,
                            "a second backward() gave twice the gradients: write "
                            "self.grads[name] = ..., do not add to them (+=)" if doubled else
                            "a second backward() gave other gradients: does backward change "
                            "what forward kept (an in-place *=, -=, ... on a cached array)?"))
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
    float32 = any(float32_advice(value) for value in (loss, *model.grads.values()))

    # beta = 1, against the reference's gradients directly
    model = build_vae(student, (D, H, K), 1.0)
    values, x, eps = well_placed(rng)
    set_params(model, values)
    _, problem = vae_pass(student, model, values, x, eps, 1.0, "a batch of 7")
    verdicts.append(Verdict("with beta = 1: loss and gradients equal npvae.reference's",
                            not problem, problem))
    if failed and not problem and not float32:
        failed[0].detail += ("\nright at beta = 1 but not at beta = 0.5: is beta missing from "
                             "the KL's gradients?")
    right_so_far = all(v.passed for v in verdicts)
    try:
        later = vae_loop_verdicts(student, rng, beta)
    except Wrong as wrong:
        later = [wrong.verdict]
    return verdicts + (later if right_so_far else without_guesses(later))


def vae_loop_verdicts(student, rng, beta):
    """The calls of a training loop: two forwards of one shape then backward, a batch of another
    size, the loss kept while the next forward runs; another model size; binary pixels; logvar
    from far below 0 to above the cap. Each against npvae.reference."""
    model = build_vae(student, (D, H, K), beta)
    values, x1, eps1 = well_placed(rng)
    set_params(model, values)
    loss = attempt(student, "forward(x, eps)", model.forward, x1, eps1)
    kept = np.array(loss, dtype=float, copy=True) if numeric(loss) else None
    hint = ("\nbackward must use what the latest forward kept, and every size comes from the "
            "arrays given")
    verdicts = []
    for rows, what in ((N, f"forward(x1, eps1); forward(x2, eps2), both {N} rows; backward(): "
                          "the gradients of x2"),
                       (OTHER[3], f"a later batch of {OTHER[3]} rows")):
        _, x, eps = well_placed(rng, rows=rows)
        _, problem = vae_pass(student, model, values, x, eps, beta, what)
        verdicts.append(Verdict(what, not problem, problem + (hint if problem else "")))
    verdicts.append(Verdict("the loss returned stays unchanged by the next forward",
                            kept is not None
                            and np.array_equal(np.asarray(loss, dtype=float), kept),
                            "the loss returned first changed when forward ran again: return a "
                            "new number (float(...)), not an array the model keeps and writes "
                            "into"))
    d, h, k, rows = OTHER
    other = build_vae(student, (d, h, k), beta)
    values, x, eps = well_placed(rng, (d, h, k), rows)
    set_params(other, values)
    _, problem = vae_pass(student, other, values, x, eps, beta, f"{rows} rows")
    verdicts.append(Verdict(f"another model: {student.obj.__name__}({d}, {h}, {k}, {beta}) on "
                            f"{rows} rows", not problem,
                            problem + ("\nare sizes or the batch size written into the code?"
                                       if problem else "")))
    model = build_vae(student, (D, H, K), beta)
    values, x, eps = well_placed(rng)
    x = (x > 0.5).astype(float)  # pixels of exactly 0 and 1, as binarized data has
    set_params(model, values)
    _, problem = vae_pass(student, model, values, x, eps, beta, "binary pixels")
    verdicts.append(Verdict("right on pixels of exactly 0 and 1", not problem, problem))
    values["logvar_head.b"][...] = [38.0, -44.0]  # rows above the cap of 30, rows far below 0
    values["logvar_head.W"] *= 3
    set_params(model, values)
    logvar = reference.forward(values, x, eps)["logvar_raw"]
    span = f"logvar from {logvar.min():.0f} to {logvar.max():.0f}"
    with np.errstate(all="ignore"):
        _, problem = vae_pass(student, model, values, x, eps, beta, span)
    verdicts.append(Verdict(f"right at {span} (capped at {reference.LOGVAR_MAX:g} from above "
                            "only, no gradient above the cap)", not problem, problem))
    return verdicts
