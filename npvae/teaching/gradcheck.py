"""Gradient checking: compare a hand-derived gradient with centered finite differences.

For a scalar function f of an array x, the centered difference
    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)
has error O(h^2) from truncation and O(eps_machine * |f| / h) from round-off; in float64 with
h = 1e-5 both are around 1e-10 relative, so a correct gradient agrees to about 1e-8 and a wrong
one is off by far more. Do checks in float64: in float32 round-off alone is about 1e-3.

The relative error of one coordinate is ``|a - n| / max(floor, |a| + |n|)`` (a: analytic,
n: numerical), with floor 1e-8 by convention, which keeps coordinates where both are ~0 from
dividing by zero. But round-off in f itself (about 2.2e-16 * |f| in float64) makes every numerical
derivative uncertain by ``2.2e-16 * |f| / h`` at best (a sum of many terms carries a few such
units), so a gradient smaller than that divided by the tolerance cannot be checked to that
relative error, however right it is. ``check_model`` and ``check_layer`` therefore raise the floor
to ``10 * 2.2e-16 * |f| / (h * tol)`` (``resolvable_floor``): coordinates below it are judged by
their absolute error ``|a - n| / floor``. For a small model (|f| ~ 5, h = 1e-5, tol = 1e-6) that
floor is ~1e-3; for the MNIST-sized one (|f| ~ 900, h = 1e-4) ~2e-2.
Near a ReLU kink a step of h can cross from one side to the other, and the numerical derivative
there is an average of two slopes: a large error at a single coordinate is then no bug.
"""

from dataclasses import dataclass

import numpy as np

from ..nn.losses import LOG_STD_SCALE
from ..utils.validation import check_random_state

DEFAULT_H = 1e-5
DEFAULT_TOL = 1e-6
DEFAULT_FLOOR = 1e-8


def resolvable_floor(f_value, h=DEFAULT_H, tol=DEFAULT_TOL):
    """The smallest |a| + |n| whose relative error round-off in f lets us resolve to ``tol``:
    ten units in the last place of f, divided by h and by tol."""
    return max(DEFAULT_FLOOR, 10 * np.finfo(np.float64).eps * abs(f_value) / (h * tol))


def rel_error(analytic, numerical, floor=DEFAULT_FLOOR):
    """Elementwise ``|a - n| / max(floor, |a| + |n|)``.

    The floor (1e-8 by convention) keeps coordinates where both are ~0 from dividing by zero;
    see the module docstring for when to raise it.
    """
    a, n = np.asarray(analytic), np.asarray(numerical)
    with np.errstate(invalid="ignore"):  # inf against inf: NaN, which fails every check
        return np.abs(a - n) / np.maximum(floor, np.abs(a) + np.abs(n))


def numerical_gradient(f, x, h=DEFAULT_H, indices=None):
    """Centered differences of the scalar ``f()`` with respect to the array ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place and restored (so x can be
    a parameter view of a model). ``indices``: flat indices to differentiate (default: all).
    Returns an array of x's shape, or of len(indices) when indices are given.
    """
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous, so that perturbing it in place changes f")
    chosen = range(flat.size) if indices is None else indices
    grad = np.empty(len(chosen))
    for j, i in enumerate(chosen):
        saved = flat[i]
        flat[i] = saved + h
        f_plus = float(f())
        flat[i] = saved - h
        f_minus = float(f())
        flat[i] = saved
        grad[j] = (f_plus - f_minus) / (2 * h)
    return grad.reshape(x.shape) if indices is None else grad


@dataclass
class CheckRow:
    """One line of a gradient-check report; on a failure, where and how it failed."""
    name: str
    shape: tuple
    max_abs_grad: float
    worst_error: float
    n_checked: int
    passed: bool
    worst_index: tuple = None  # the coordinate with the worst relative error
    analytic: float = None  # the two gradients there
    numerical: float = None
    note: str = ""  # a reason, printed under a failed row
    against: str = "numerical"  # what the answer was compared with


def hint(analytic, numerical, factors=(), everywhere=None):
    """What a mismatch of two numbers at one coordinate suggests, or "".

    ``factors``: more (factor, meaning) pairs to look for in analytic / numerical, such as the
    batch size. ``everywhere``: the two whole gradients (arrays); a factor is named only if it
    holds at every coordinate, since one coordinate's ratio can match a factor by chance."""
    if numerical != 0 and analytic == 0:
        return "your gradient is 0 where it should not be: a missing term?"
    if analytic != 0 and abs(numerical) < 1e-8 * abs(analytic):
        return "your gradient is not 0 where it should be: a term too many?"
    if numerical == 0:
        return ""
    ratio = analytic / numerical
    if abs(ratio - 1) < 1e-4:
        return ("yours agrees to 5 or 6 digits only: float32 arithmetic somewhere (compute in "
                "float64), or a function too curved for the step h")
    known = [(2.0, "twice the right value: a missing factor 1/2?"),
             (0.5, "half the right value: a factor 1/2 too many?"),
             (-1.0, "the right size with the wrong sign: a sign error?"), *factors]
    for factor, meaning in known:
        if abs(ratio - factor) <= 0.02 * abs(factor) and (everywhere is None or np.allclose(
                everywhere[0], factor * everywhere[1], rtol=0.02,
                atol=1e-6 * abs(factor) * np.abs(everywhere[1]).max())):
            return meaning
    return ""


def compare(name, analytic, numerical, tol=DEFAULT_TOL, floor=DEFAULT_FLOOR, factors=()):
    """A ``CheckRow`` for two gradients of the same shape: pass when the worst relative error is
    at most ``tol``. ``factors``: more hints for ``hint``."""
    analytic, numerical = np.asarray(analytic, dtype=float), np.asarray(numerical, dtype=float)
    errors = rel_error(analytic, numerical, floor)
    if errors.size == 0:
        return CheckRow(name, analytic.shape, 0.0, 0.0, 0, False, note="nothing to check")
    if np.isnan(errors).any():
        worst = np.unravel_index(np.argmax(np.isnan(errors)), errors.shape)
    else:
        worst = np.unravel_index(np.argmax(errors), errors.shape)
    error = float(errors[worst])
    passed = error <= tol  # False for NaN
    a, n = float(analytic[worst]), float(numerical[worst])
    return CheckRow(name, analytic.shape, float(np.abs(analytic).max()), error, errors.size,
                    passed, tuple(int(i) for i in worst), a, n,
                    "" if passed else hint(a, n, factors, (analytic, numerical)))


def check_array(name, f, x, analytic, h=DEFAULT_H, tol=DEFAULT_TOL, n_coords=None, rng=None,
                floor=DEFAULT_FLOOR):
    """Check ``analytic`` (shape of x) against centered differences of ``f()`` in x.

    ``n_coords``: check that many coordinates drawn at random (default: all of them).
    """
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        return CheckRow(name, tuple(x.shape), 0.0, np.inf, 0, False,
                        note=f"the gradient has shape {analytic.shape}, not {x.shape}")
    if n_coords is None or n_coords >= x.size:
        return compare(name, analytic, numerical_gradient(f, x, h), tol, floor)
    indices = check_random_state(rng).choice(x.size, size=n_coords, replace=False)
    row = compare(name, analytic.reshape(-1)[indices], numerical_gradient(f, x, h, indices),
                  tol, floor)
    row.shape, row.max_abs_grad = tuple(x.shape), float(np.abs(analytic).max())
    if row.worst_index is not None:
        row.worst_index = np.unravel_index(indices[row.worst_index[0]], x.shape)
    return row


def check_model(model, x, eps, h=DEFAULT_H, tol=DEFAULT_TOL, n_coords=None, random_state=None,
                floor=None, surrogate=None, **inputs):
    """Check ``model.loss_and_grads(x, eps)`` for every named parameter; one ``CheckRow`` each.

    The model must give ``named_parameters()``, ``loss_and_grads(x, eps)`` and ``loss(x, eps)``
    (whose ``.total`` is the same loss without gradients), like ``npvae.VAE``. Use float64.
    ``floor=None``: ``resolvable_floor`` of the loss. Other keyword arguments (the labels ``y`` of
    a conditional VAE) go to both. A parameter stored scaled (``scaled_log_std``, which is
    log s / scale) is stepped by h / scale: h in the quantity it stands for. ``surrogate``: a
    function of no arguments to difference instead of the loss, for a gradient estimator that
    is the gradient of another function (``npvae.models.importance.surrogate``).
    """
    rng = check_random_state(random_state)
    value, grads = model.loss_and_grads(x, eps, **inputs)
    loss = surrogate or (lambda: model.loss(x, eps, **inputs).total)
    if floor is None:
        floor = resolvable_floor(value if surrogate is None else loss(), h, tol)
    scale = getattr(getattr(model, "nll", None), "scale", LOG_STD_SCALE)
    return [check_array(name, loss, value, grads[name],
                        h / scale if name.endswith("scaled_log_std") else h, tol,
                        n_coords, rng, floor)
            for name, value in model.named_parameters()]


def check_layer(layer, x, h=DEFAULT_H, tol=DEFAULT_TOL, random_state=None):
    """Check a layer's backward: every parameter in ``layer.params`` and the input x.

    The scalar checked is ``sum(forward(x) * dy)`` for a random upstream gradient dy, whose
    gradient is exactly what ``backward(dy)`` returns (a vector-Jacobian product). A forward
    that does not give one row per example, or a backward that returns no gradient for its
    input, is a failed row: no check passes having checked nothing.
    """
    rng = check_random_state(random_state)
    x = np.array(x, dtype=np.float64)
    y = layer.forward(x.copy())
    if np.ndim(y) == 0 or np.shape(y)[0] != len(x):
        return [CheckRow("forward output", np.shape(y), 0.0, np.inf, 0, False,
                         note=f"forward must return one row per example, ({len(x)}, ...); "
                         f"got shape {np.shape(y)}")]
    dy = rng.standard_normal(np.shape(y))
    dy_before = dy.copy()
    dx = layer.backward(dy)
    rows = []
    if not np.array_equal(dy, dy_before):
        rows.append(CheckRow("dy (unchanged)", dy.shape, 0.0, np.inf, 0, False,
                             note="backward changed the dy it was given: compute into a new "
                             "array"))
        dy = dy_before
    dx = None if dx is None else np.array(dx, dtype=float)  # layers may reuse the array
    grads = {key: np.array(g, dtype=float) for key, g in layer.grads.items()}
    layer.forward(x.copy())
    layer.backward(dy.copy())  # the same dy again: the gradients must be the same, not twice
    added = [key for key in grads if not np.allclose(layer.grads[key], grads[key], rtol=1e-12,
                                                     atol=0)]
    if added:
        rows.append(CheckRow(f"grads[{added[0]!r}] (overwritten)", grads[added[0]].shape, 0.0,
                             np.inf, 0, False, note="a second backward(dy) gave other "
                             "gradients: write self.grads[key] = ..., do not add to them (+=)"))
    loss = lambda: float(np.sum(layer.forward(x) * dy))  # noqa: E731
    floor = resolvable_floor(loss(), h, tol)
    rows += [check_array(key, loss, value, grads[key], h, tol, floor=floor)
             for key, value in layer.params.items()]
    if dx is None:
        rows.append(CheckRow("x (input)", x.shape, 0.0, np.inf, 0, False,
                             note="backward returned None: it must return dL/dx, the gradient "
                             "of the loss for its input"))
    else:
        rows.append(check_array("x (input)", loss, x, dx, h, tol, floor=floor))
    return rows


def describe_failure(row):
    """The lines under a failed row: where it failed worst, the two values there, and a hint."""
    lines = []
    if row.analytic is not None:
        index = ", ".join(str(int(i)) for i in row.worst_index)
        ratio = (f", ratio {row.analytic / row.numerical:.4g}" if row.numerical
                 else "")
        lines.append(f"    worst at [{index}]: yours {row.analytic:.6g}, {row.against} "
                     f"{row.numerical:.6g}{ratio}")
    if row.note:
        lines.append(f"    {row.note}")
    return lines


def format_report(rows, tol=DEFAULT_TOL):
    """The rows as a text table, one per parameter, and a closing verdict line. Under a failed
    row: its worst coordinate, the two gradients there and a hint."""
    width = max([len("parameter")] + [len(r.name) for r in rows])
    lines = [f"{'parameter':<{width}}  {'shape':<12} {'max |grad|':>11} "
             f"{'worst rel err':>14}  result"]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {str(r.shape):<12} {r.max_abs_grad:>11.3e} "
                     f"{r.worst_error:>14.2e}  {'pass' if r.passed else 'FAIL'}")
        if not r.passed:
            lines += describe_failure(r)
    failed = [r.name for r in rows if not r.passed]
    if not rows:
        lines.append("nothing was checked: that is no pass")
    lines.append(f"{len(rows) - len(failed)} of {len(rows)} passed (tolerance {tol:g})"
                 + (f"; failed: {', '.join(failed)}" if failed else ""))
    return "\n".join(lines)
