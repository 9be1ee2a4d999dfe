"""The exercise checker: ``npvae gradcheck --exercise NAME FILE:CLASS`` judges an answer to
docs/EXERCISES.md.

A gradient check alone only shows that a backward pass agrees with its own forward pass: a KL
without its constant, or a reparameterization with the wrong standard deviation in both passes,
would pass it. So each exercise is judged on
- the forward values, against npvae's own formulas (``npvae.reference``);
- the gradients, against centred differences of the answer's own forward pass in float64, one
  row per parameter and separate rows for mu and logvar, on a batch of ``N = 7`` rows, unlike
  every width, so that a sum over the wrong axis cannot hide;
- the interface's rules: forward leaves its input alone and gives the same result twice;
  backward returns the gradient of its input, leaves ``dy`` alone, and overwrites: a second
  call gives the same gradients, not twice them;
- the exercise's own lesson (logits of +-1000, the variance of z, Adam through the views, ...).
Each check is a ``Verdict``. Exit status: 0 every check passed, 1 one failed (its reason is
printed), 2 the answer could not be checked (``npvae.teaching.student.CouldNotCheck``).
"""

import inspect
from dataclasses import dataclass

import numpy as np

from .. import reference
from ..nn.losses import kl_normal
from .gradcheck import compare, describe_failure, numerical_gradient, rel_error, resolvable_floor
from .student import CouldNotCheck

N = 7  # rows of every batch: unlike every width below
BATCH_FACTORS = ((1 / N, f"1/N = 1/{N} of the right value: a mean over the batch where there is "
                  "none (the loss's 1/N is not the layer's business)"),
                 (N, f"N = {N} times the right value: a sum over the batch too many?"))
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
    advice = float32_advice(got) or advice
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return Verdict(what, False, f"shape {got.shape}, expected {expected.shape}")
    errors = rel_error(got, expected, floor=1e-12)
    worst = np.unravel_index(np.argmax(np.where(np.isnan(errors), np.inf, errors)), errors.shape)
    if errors[worst] <= tol:  # False for NaN
        return Verdict(what, True)
    if not np.isfinite(got[worst]) and advice_if_not_finite:
        advice = advice_if_not_finite
    at = f"at [{', '.join(map(str, worst))}]: " if worst else ""
    return Verdict(what, False, f"{at}yours {got[worst]:.10g}, expected {expected[worst]:.10g}"
                   + (f". {advice}" if advice else ""))


# ---- layers -------------------------------------------------------------------------------------

@dataclass
class LayerExercise:
    """An exercise whose answer is a layer: ``forward(x)`` and ``backward(dy)``."""
    title: str
    formula: str  # what forward computes, for the report
    inputs: object  # rng -> x (N, I)
    expected: object  # (layer, x, student) -> the forward values the formulas give
    input_name: str = "x"  # what forward takes: x, h = [mu | logvar], logits
    columns: tuple = None  # rows of the input gradient, (name, columns); default the whole input
    param_shapes: tuple = ()  # ((key, shape), ...) the layer must hold
    sizes: tuple = ()  # the constructor's arguments, if it takes any
    output_width: int = None  # forward's output is (N, output_width)
    lessons: object = None  # (student, make) -> list of Verdict
    advice: str = ""  # printed when the forward values are wrong


class Wrong(Exception):
    """An answer broke the interface so that nothing further can be checked: the verdict."""

    def __init__(self, verdict):
        super().__init__(verdict.what)
        self.verdict = verdict


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


def check_layer_exercise(exercise, student, rng):
    """Every check of a layer exercise, as a list of Verdicts."""
    layer = build(student, exercise.sizes)
    verdicts = interface(student, layer, exercise.param_shapes)
    if verdicts and not verdicts[-1].passed:
        return verdicts
    for key, shape in exercise.param_shapes:  # random values, so a wrong gradient shows
        layer.params[key][...] = rng.standard_normal(shape)
    x = exercise.inputs(rng)
    expected = exercise.expected(layer, x, student)
    given = x.copy()
    y = student.call("forward", layer.forward, given)
    out_shape = (N, exercise.output_width)
    if not isinstance(y, np.ndarray) or y.shape != out_shape:
        return verdicts + [Verdict(f"forward returns an array of shape {out_shape}", False,
                                   f"got {type(y).__name__} of shape {np.shape(y)}")]
    verdicts.append(Verdict("forward leaves its input unchanged", np.array_equal(given, x),
                            "forward changed the array it was given: work on a copy"))
    verdicts.append(values_verdict(f"forward values: {exercise.formula}", y, expected,
                                   advice=exercise.advice))
    again = student.call("forward", layer.forward, x.copy())
    verdicts.append(Verdict("forward gives the same result twice",
                            np.allclose(again, y, rtol=1e-12, atol=0),
                            "a second call with the same input gave other values (noise or "
                            "targets drawn anew?)"))

    dy = rng.standard_normal(out_shape)
    dy_given = dy.copy()
    dx = student.call("backward", layer.backward, dy_given)
    keys = [key for key, _ in exercise.param_shapes]
    try:
        grads = answer_gradients(layer, keys)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]
    verdicts.append(Verdict("backward leaves dy unchanged", np.array_equal(dy_given, dy),
                            "backward changed the dy it was given: compute into a new array"))
    returned = isinstance(dx, np.ndarray) and dx.shape == x.shape
    name = exercise.input_name
    verdicts.append(Verdict(f"backward returns dL/d{name} of shape {x.shape}", returned,
                            f"it returned {type(dx).__name__} of shape {np.shape(dx)}: backward "
                            "must return the gradient of the loss for its input"))
    dx2 = student.call("backward", layer.backward, dy.copy())
    try:
        again = answer_gradients(layer, keys)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]
    same_grads = all(np.allclose(again[key], grads[key], rtol=1e-12, atol=0) for key in keys)
    same_dx = not returned or (isinstance(dx2, np.ndarray)
                               and np.allclose(dx2, dx, rtol=1e-12, atol=0))
    verdicts.append(Verdict(
        "backward overwrites: a second call gives the same", same_grads and same_dx,
        "a second backward(dy) gave other gradients: write self.grads[key] = ..., do not add "
        "to them (+=)" if not same_grads else "a second backward(dy) returned another dL/d"
        f"{name}: does backward change what forward kept (an in-place **, *=, ...)?"))

    f = lambda: float(np.sum(student.call("forward", layer.forward, x) * dy))  # noqa: E731
    floor = resolvable_floor(f())
    params = {key: layer.params[key] for key, _ in exercise.param_shapes}
    verdicts += parameter_verdicts(f, params, grads, getattr(layer, "grads", {}), BATCH_FACTORS,
                                   floor)
    if returned:
        numerical = numerical_gradient(f, x)
        for name, columns in exercise.columns or ((name, slice(None)),):
            row = compare(name, dx[:, columns], numerical[:, columns], floor=floor,
                          factors=BATCH_FACTORS)
            verdicts.append(gradient_verdict(
                row, f"gradient of {name} {dx[:, columns].shape} by finite differences", dx))
    if exercise.lessons is not None:
        verdicts += exercise.lessons(student, lambda: build(student, exercise.sizes))
    return verdicts


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
        if not row.passed and np.abs(numerical).max() < floor and np.abs(grads[key]).max() > 0:
            row.note = (f"your forward does not change at all when params[{key!r}] does: does "
                        "it compute with an array of its own (a copy, self.W) instead of "
                        f"self.params[{key!r}]?")
        verdicts.append(gradient_verdict(row, f"gradient of {key} {value.shape} by finite "
                                         "differences", answer_grads.get(key)))
    return verdicts


def split(h):
    """[mu | logvar] (N, 2K) -> mu (N, K), logvar (N, K)."""
    k = h.shape[1] // 2
    return h[:, :k], h[:, k:]


def kl_lessons(student, make):
    kl = np.ravel(student.call("forward", make().forward, np.zeros((N, 6))))
    advice = "the KL of a distribution from itself is 0"
    if kl.shape == (N,) and np.allclose(np.abs(kl), 1.5):  # K / 2, with K = 3
        advice += ": yours is K/2, the constant 1 in 1 + logvar - mu^2 - exp(logvar)?"
    return [values_verdict("KL(N(0, I) || N(0, I)) = 0", kl, np.zeros(N), advice=advice)]


def reparameterization_expected(layer, h, student):
    """z = mu + exp(logvar / 2) * eps, with the layer's own eps, read off at mu = logvar = 0."""
    eps = np.asarray(student.call("forward", layer.forward, np.zeros_like(h)), dtype=float)
    mu, logvar = split(h)
    return mu + np.exp(logvar / 2) * eps


def reparameterization_lessons(student, make):
    """z must have mean mu and variance exp(logvar): 20,000 draws, a new layer."""
    n, mu, logvar = 20_000, np.array([1.0, -2.0, 0.5]), np.array([-1.0, 1.0, 2.0])
    h = np.tile(np.concatenate([mu, logvar]), (n, 1))
    z = np.asarray(student.call("forward", make().forward, h), dtype=float)
    if z.shape != (n, 3):
        return [Verdict("z has mean mu and variance exp(logvar)", False,
                        f"forward of {n} rows gave shape {z.shape}")]
    mean, var = z.mean(axis=0), z.var(axis=0)
    se = np.exp(logvar / 2) / np.sqrt(n)
    ok = (np.abs(mean - mu) < 6 * se) & (np.abs(var / np.exp(logvar) - 1) < 0.06)
    detail = ""
    if not ok.all():
        k = int(np.argmin(ok))
        detail = (f"with mu = {mu[k]:g}, logvar = {logvar[k]:g}: the mean of z is {mean[k]:.4g} "
                  f"and its variance {var[k]:.4g}; exp(logvar) = {np.exp(logvar[k]):.4g}")
        if abs(var[k] / np.exp(2 * logvar[k]) - 1) < 0.06:
            detail += (". That variance is exp(logvar)^2: you used exp(logvar) as the standard "
                       "deviation; it is exp(logvar / 2)")
    return [Verdict(f"z has mean mu and variance exp(logvar) ({n} draws)", bool(ok.all()),
                    detail)]


def bernoulli_expected(layer, logits, student):
    x = np.random.default_rng(0).random(logits.shape)  # the targets, as the exercise draws them
    return (reference.softplus(logits) - x * logits).sum(axis=1, keepdims=True)


def bernoulli_lessons(student, make):
    """Finite and right at logits of +-1000, forward and backward (a new layer)."""
    logits = np.where(np.arange(N * 5).reshape(N, 5) % 2 == 0, 1000.0, -1000.0)
    logits[0, :2] = [3.0, -2.0]
    layer = make()
    with np.errstate(all="ignore"):
        nll = student.call("forward", layer.forward, logits.copy())
        dlogits = student.call("backward", layer.backward, np.ones((N, 1)))
    x = np.random.default_rng(0).random(logits.shape)
    overflow = ("softplus(l) = log(1 + exp(l)) overflows exp at l = 1000; compute it as "
                "max(l, 0) + log(1 + exp(-|l|))")
    return [values_verdict("forward finite and right at logits of +-1000", nll,
                           bernoulli_expected(None, logits, student),
                           advice_if_not_finite=overflow),
            values_verdict("backward finite and right at logits of +-1000", dlogits,
                           reference.sigmoid(logits) - x,
                           advice_if_not_finite="sigmoid(l) = 1 / (1 + exp(-l)) for l >= 0 and "
                           "exp(l) / (1 + exp(l)) for l < 0 never overflows")]


LAYERS = {
    "dense": LayerExercise(
        "Exercise 1: the dense layer", "y = x W + b",
        lambda rng: rng.standard_normal((N, 5)),
        lambda layer, x, _: x @ layer.params["W"] + layer.params["b"],
        param_shapes=(("W", (5, 3)), ("b", (3,))), sizes=(5, 3), output_width=3),
    "relu": LayerExercise(
        "Exercise 2: ReLU", "y = max(x, 0)",
        lambda rng: (lambda x: np.where(x >= 0, x + 0.1, x - 0.1))(rng.standard_normal((N, 5))),
        lambda layer, x, _: np.maximum(x, 0), output_width=5),
    "tanh": LayerExercise(
        "Exercise 2: tanh", "y = tanh(x)", lambda rng: 1.5 * rng.standard_normal((N, 5)),
        lambda layer, x, _: np.tanh(x), output_width=5),
    "kl": LayerExercise(
        "Exercise 3: the KL term", "KL = -1/2 sum_k (1 + logvar - mu^2 - exp(logvar)), (N, 1)",
        lambda rng: rng.standard_normal((N, 6)),
        lambda layer, h, _: kl_normal(*split(h))[0][:, None], input_name="h",
        columns=(("mu", slice(0, 3)), ("logvar", slice(3, 6))), output_width=1,
        lessons=kl_lessons),
    "reparameterization": LayerExercise(
        "Exercise 4: the reparameterization", "z = mu + exp(logvar / 2) * eps",
        lambda rng: rng.standard_normal((N, 6)), reparameterization_expected, input_name="h",
        columns=(("mu", slice(0, 3)), ("logvar", slice(3, 6))), output_width=3,
        lessons=reparameterization_lessons,
        advice="the standard deviation is exp(logvar / 2) (exp(logvar) is the variance), and eps "
        "is drawn once per batch shape and kept"),
    "bernoulli": LayerExercise(
        "Exercise 5: the Bernoulli likelihood",
        "softplus(l) - x l summed over D, (N, 1), targets np.random.default_rng(0).random",
        lambda rng: 3 * rng.standard_normal((N, 5)), bernoulli_expected, input_name="logits",
        output_width=1,
        lessons=bernoulli_lessons,
        advice="at logits 0 each row's loss is D log 2 whatever the targets; the targets are "
        "np.random.default_rng(0).random((N, D)), drawn the first time forward sees a shape"),
}


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
