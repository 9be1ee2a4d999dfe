"""What every exercise check shares: ``Verdict``, one line of a report, and the checks that
give them (values against the formulas, gradient rows, the interface of an answer's object).
``Wrong`` stops a check whose answer broke the interface so that nothing further can be judged.
"""

import inspect
from dataclasses import dataclass

import numpy as np

from .gradcheck import compare, describe_failure, numerical_gradient, rel_error
from .student import CouldNotCheck

N = 7  # rows of the first batch: unlike every width below
VALUE_TOL = 1e-9  # forward values against the formulas: only round-off may differ


@dataclass
class Verdict:
    """One line of an exercise report: what was checked, whether it passed, and why not."""
    what: str
    passed: bool
    detail: str = ""  # printed under a failed line


def gradient_verdict(row, what, analytic=None):
    """A gradient-check row as a Verdict, its failure described (worst coordinate, hint).
    ``analytic``: the answer's gradient, to say so if it is float32."""
    detail = "\n".join(line.strip() for line in describe_failure(row))
    if float32_advice(analytic):
        detail += "\n" + float32_advice(analytic)
    return Verdict(f"{what}: worst relative error {row.worst_error:.1e}", row.passed, detail)


def float32_advice(array):
    """A reason when the answer computed in float32, where the check needs float64."""
    if getattr(array, "dtype", None) == np.float32:
        return ("yours is float32: compute in float64 (np.float64 arrays, no float32 "
                "conversion), as a gradient check needs")
    return ""


def values_verdict(what, got, expected, tol=VALUE_TOL, advice="", advice_if_not_finite=""):
    """Compare values computed by the answer with the formula's, elementwise. ``advice`` is
    printed under any failure, ``advice_if_not_finite`` where the answer gave inf or NaN."""
    problem = differs(got, expected, tol, floor=1e-12)
    if not problem:
        return Verdict(what, True)
    if advice_if_not_finite and numeric(got) and not np.isfinite(np.asarray(got, float)).all():
        advice = advice_if_not_finite
    advice = float32_advice(got) or advice
    return Verdict(what, False, problem + (f". {advice}" if advice else ""))


class Wrong(Exception):
    """An answer broke the interface so that nothing further can be checked: the verdict."""

    def __init__(self, verdict):
        super().__init__(verdict.what)
        self.verdict = verdict


def attempt(student, what, func, *args):
    """``func(*args)`` through ``student.call``; what it raises is a failed check (Wrong), not
    "could not check": by then the answer has already run on the first batch."""
    try:
        return student.call(what, func, *args)
    except CouldNotCheck as error:
        raise Wrong(Verdict(what, False, f"{error}\ndoes it hold on to a size, a shape or an "
                            "array from an earlier call?")) from None


def answer_gradients(answer, keys):
    """``answer.grads[key]`` for each key as float64 arrays (copies), or raise Wrong: after
    backward, grads must hold an array of numbers under every key."""
    grads = getattr(answer, "grads", None)
    missing = [key for key in keys if not isinstance(grads, dict) or key not in grads]
    if missing:
        raise Wrong(Verdict(f"backward fills grads[{missing[0]!r}]", False,
                            f"after backward, grads has no {missing[0]!r}: write "
                            f"self.grads[{missing[0]!r}] = dL/d{missing[0]}"))
    for key in keys:
        if not numeric(grads[key]):
            raise Wrong(Verdict(f"grads[{key!r}] holds numbers", False, f"it holds "
                                f"{type(grads[key]).__name__}: an array of numbers"))
    return {key: np.array(grads[key], dtype=float) for key in keys}


def numeric(value):
    """True for a number or an array (or list) of real numbers; False for None, objects,
    strings or ragged lists."""
    try:
        return np.asarray(value).dtype.kind in "fiu"
    except ValueError:  # a ragged list
        return False


def build(student, sizes=()):
    """The student's class built with no arguments, or with ``sizes`` if its signature needs
    them; whatever its ``__init__`` raises (SystemExit too) is CouldNotCheck."""
    cls = student.obj
    if not inspect.isclass(cls):
        raise CouldNotCheck(f"{student.spec} is not a class")
    try:
        inspect.signature(cls).bind()
        args = ()
    except TypeError:  # it takes arguments: the sizes
        args = sizes
    except ValueError:  # no signature to read (a builtin): try without arguments
        args = ()
    return student.call(f"{cls.__name__}{args if args else '()'}", cls, *args)


def interface(student, layer, param_shapes, label=None):
    """Verdicts on ``params`` and ``grads`` (a layer without parameters may leave them out).
    ``label``: how the report names the parameters (default: each with its shape)."""
    for name in ("forward", "backward"):
        if not callable(getattr(layer, name, None)):
            raise CouldNotCheck(f"{student.spec} has no method {name}")
    if not param_shapes:
        return []
    params, grads = getattr(layer, "params", None), getattr(layer, "grads", None)
    wanted = ", ".join(f"{key!r} {shape}" for key, shape in param_shapes)
    if not isinstance(params, dict) or not isinstance(grads, dict):
        return [Verdict("params and grads are dicts", False, f"they must hold {wanted}")]
    for key, shape in param_shapes:
        value = params.get(key)
        if not (isinstance(value, np.ndarray) and value.shape == shape
                and value.dtype == np.float64 and value.flags.c_contiguous):
            got = f"{type(value).__name__} {np.shape(value)}"
            if isinstance(value, np.ndarray):
                got = f"a {value.dtype} array of shape {value.shape}"
            return [Verdict(f"params[{key!r}] is a float64 array of shape {shape}", False,
                            f"got {got}; params must hold {wanted}, float64 for a gradient "
                            "check")]
    return [Verdict(f"params and grads hold {label or wanted}", True)]


def differs(got, want, tol=1e-8, floor=None):
    """"" if ``got`` equals ``want`` to ``tol`` (relative error, with ``floor``; by default
    1e-7 of the array's own scale, so that round-off in its near-zero entries passes), else
    where and by how much it does not."""
    if not isinstance(got, np.ndarray) and not numeric(got):
        return f"got {type(got).__name__}"
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if floor is None:
        floor = max(1e-12, 1e-7 * float(np.abs(want).max(initial=0)))
    errors = rel_error(got, want, floor=floor)
    worst = np.unravel_index(np.argmax(np.where(np.isnan(errors), np.inf, errors)), errors.shape)
    if errors[worst] <= tol:  # False for NaN
        return ""
    at = f"at [{', '.join(map(str, worst))}]: " if worst else ""
    near = (" (equal to about 7 digits: float32 arithmetic somewhere? compute in float64)"
            if errors[worst] < 1e-5 else "")
    return f"{at}yours {got[worst]:.10g}, expected {want[worst]:.10g}{near}"


def parameter_verdicts(f, params, grads, answer_grads, factors, floor):
    """For each parameter, ``grads[key]`` against centred differences of ``f()`` in
    ``params[key]`` (perturbed in place). ``answer_grads``: the answer's own dict, to name its
    dtype if it is float32."""
    verdicts = []
    for key, value in params.items():
        if grads[key].shape != value.shape:
            verdicts.append(Verdict(f"gradient of {key}", False, f"grads[{key!r}] has shape "
                                    f"{grads[key].shape}, not {value.shape}"))
            continue
        numerical = numerical_gradient(f, value)
        row = compare(key, grads[key], numerical, floor=floor, factors=factors)
        if not row.passed and not grads[key].any() and np.abs(numerical).max() >= floor:
            row.note = (f"your grads[{key!r}] is 0 everywhere: is it ever written? backward must "
                        f"leave the gradient in self.grads[{key!r}], the dict that is read after "
                        "it (not in an array that dict no longer holds)")
        elif not row.passed and np.abs(numerical).max() < floor and np.abs(grads[key]).max() > 0:
            row.note = (f"your forward does not change at all when params[{key!r}] does: does "
                        "it compute with an array of its own (a copy, self.W) instead of "
                        f"self.params[{key!r}]?")
        verdicts.append(gradient_verdict(row, f"gradient of {key} {value.shape} by finite "
                                         "differences", answer_grads.get(key)))
    return verdicts


def format_verdicts(title, verdicts):
    """The report of one exercise and its closing line."""
    width = max(len(v.what) for v in verdicts)
    lines = [f"== {title}"]
    for v in verdicts:
        lines.append(f"{v.what:<{width}}  {'pass' if v.passed else 'FAIL'}")
        if not v.passed and v.detail:
            lines += [f"    {line}" for line in v.detail.splitlines()]
    failed = sum(not v.passed for v in verdicts)
    verdict = "right" if not failed else "wrong: see FAIL above"
    lines.append(f"{len(verdicts) - failed} of {len(verdicts)} checks passed: {verdict}")
    return "\n".join(lines)


def without_guesses(verdicts):
    """The verdicts with each detail cut to its first line: the guess at a cause that follows
    it is only worth saying when the answer was right on the first batch. (A formula that is
    wrong there is wrong on every later batch too, and for that reason.)"""
    for verdict in verdicts:
        verdict.detail = verdict.detail.split("\n")[0]
    return verdicts


def numbers(values):
    """An array written out in full, ten digits: for a report's expected and yours lines."""
    return np.array2string(np.asarray(values), precision=10, separator=", ",
                           max_line_width=10_000)
