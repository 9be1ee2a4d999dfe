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

from dataclasses import dataclass

import numpy as np

from .gradcheck import compare, numerical_gradient, resolvable_floor
from .verdicts import (Verdict, Wrong, answer_gradients, attempt, build, differs, float32_advice,
                       gradient_verdict, interface, parameter_verdicts, values_verdict,
                       without_guesses)

OTHER_ROWS = 4  # the batch size of a later call on the same layer, and of the second shape


@dataclass
class Shape:
    """One setting of a layer exercise: the batch, the widths, the constructor's arguments."""
    rows: int
    width_in: int
    width_out: int
    sizes: tuple = ()  # MyDense(5, 3); empty for a layer built with no arguments


@dataclass
class LayerExercise:
    """An exercise whose answer is a layer: ``forward(x)`` and ``backward(dy)``, judged on two
    shapes, the first in full and the second in a new layer on a non-contiguous input."""
    title: str
    formula: str  # what forward computes, for the report
    shapes: tuple  # (Shape, Shape)
    draw: object  # (rng, rows, width) -> an input
    values: object  # (params, x) -> what forward must return, by the formulas
    gradients: object  # (params, x, dy) -> (dL/dx, {key: dL/dkey}), by the formulas
    input_name: str = "x"  # what forward takes: x, h = [mu | logvar], logits
    halves: bool = False  # the input is [mu | logvar]: a gradient row for each half
    param_shapes: object = None  # Shape -> ((key, shape), ...) the layer must hold
    lessons: object = None  # (student, make) -> list of Verdict; make() builds a new layer
    advice: str = ""  # printed when the forward values are wrong
    slips: tuple = ()  # ((what, (params, x, dy) -> (y, dx)), ...): classic mistakes, named
    #                    under a failed row only when the answer's numbers match one exactly
    input_gradient: object = None  # (params, x0, dy) -> f(x): what dL/dx is the gradient of
    #                    at x0 (default: sum(forward(x) * dy), the answer's own forward)


def shapes_of(exercise, shape):
    return exercise.param_shapes(shape) if exercise.param_shapes else ()


def randomize(layer, param_shapes, rng):
    """New random values written into the layer's own arrays, in place, as an optimizer does."""
    for key, shape in param_shapes:
        layer.params[key][...] = rng.standard_normal(shape)


def current_params(layer, param_shapes, sizes=()):
    """The layer's parameters as float copies, and "sizes": its constructor's arguments."""
    params = {key: np.array(layer.params[key], dtype=float) for key, _ in param_shapes}
    return {**params, "sizes": sizes}


def pass_verdicts(exercise, student, layer, keys, x, dy, label, sizes=()):
    """forward(x) then backward(dy) against the formulas; "" or what differs."""
    params = current_params(layer, [(key, None) for key in keys], sizes)
    y = attempt(student, f"forward on {label}", layer.forward, x)
    problem = differs(y, exercise.values(params, x))
    if problem:
        return y, None, f"forward on {label}: {problem}{float32_note(y)}"
    dx = attempt(student, f"backward on {label}", layer.backward, dy)
    want_dx, want_grads = exercise.gradients(params, x, dy)
    problem = differs(dx, want_dx)
    if problem:
        return y, dx, (f"backward on {label}: dL/d{exercise.input_name} {problem}"
                       f"{float32_note(dx)}")
    grads = answer_gradients(layer, keys)
    for key in keys:
        problem = differs(grads[key], want_grads[key])
        if problem:
            return y, dx, f"backward on {label}: grads[{key!r}] {problem}{float32_note(grads[key])}"
    return y, dx, ""


def float32_note(array):
    """". yours is float32: ..." for an answer computed in float32, else ""."""
    advice = float32_advice(array)
    return f". {advice}" if advice else ""


def training_loop_verdicts(exercise, student, layer, shape, second, rng):
    """The same layer called as a training loop calls it: two forwards of one shape before a
    backward, then later batches that change the batch size alone, the width alone (a layer
    built without sizes takes any width) and both, then new parameters written in place; and
    what each call returned stays as it was when later calls run (no answer is a view of an
    array the layer keeps)."""
    keys = [key for key, _ in shapes_of(exercise, shape)]
    kept = []

    def keep(what, array):
        if isinstance(array, np.ndarray):
            kept.append((what, array, array.copy()))

    def run(rows, widths, label, first=None):
        """forward (after ``first`` forwards of the same shape) and backward, checked."""
        for _ in range(first or 0):
            keep("forward's result", attempt(student, "forward", layer.forward,
                                             exercise.draw(rng, rows, widths.width_in)))
        x = exercise.draw(rng, rows, widths.width_in)
        dy = rng.standard_normal((rows, widths.width_out))
        y, dx, problem = pass_verdicts(exercise, student, layer, keys, x, dy, label,
                                       widths.sizes)
        keep("forward's result", y)
        keep("backward's result", dx)
        return problem

    hint = ("\nbackward must use what the latest forward kept, and a new batch shape needs "
            "arrays of its own (noise and targets too)")
    steps = [(shape.rows, shape, f"forward(x1); forward(x2), both {shape.rows} rows; backward: "
              "the gradients of x2", 1)]
    if shape.sizes:  # the widths are the layer's: the batch size alone changes
        steps.append((OTHER_ROWS, shape, f"a later batch of {OTHER_ROWS} rows", 0))
    else:  # the widths are the input's: each change alone, the rows or the width
        steps += [(shape.rows, second, f"then width {second.width_in}, same rows", 0),
                  (OTHER_ROWS, second, f"then {OTHER_ROWS} rows, same width", 0),
                  (OTHER_ROWS, shape, f"then width {shape.width_in} again, same rows", 0)]
    verdicts = []
    for rows, widths, what, first in steps:
        problem = run(rows, widths, what, first)
        verdicts.append(Verdict(what, not problem, problem + (hint if problem else "")))
    if keys:
        randomize(layer, shapes_of(exercise, shape), rng)
        problem = run(shape.rows, shape, "new parameters")
        verdicts.append(Verdict("new parameters written in place: forward and backward use them",
                                not problem, problem + ("\ndoes the layer compute with a copy "
                                                        "made in __init__?" if problem else "")))
    last = shape if keys else steps[-1][1]  # a second backward for the latest forward
    attempt(student, "backward", layer.backward,
            rng.standard_normal((shape.rows if keys else steps[-1][0], last.width_out)))
    changed = [what for what, array, copy in kept if not np.array_equal(array, copy)]
    verdicts.append(Verdict(
        "what forward and backward returned stays unchanged by later calls", not changed,
        f"{changed[0] if changed else ''} changed when the layer was called again: return a new "
        "array each call, not one the layer keeps and writes into"))
    return verdicts


def other_shape_verdicts(exercise, student, shape, rng):
    """A new layer of the second shape, fed an input and dy in column-major order (not
    C-contiguous, as a transposed array is): values and gradients by the formulas."""
    param_shapes = shapes_of(exercise, shape)
    what = (f"another shape: {student.obj.__name__}{shape.sizes if shape.sizes else '()'} on "
            f"{shape.rows} rows of width {shape.width_in}, column-major")
    layer = attempt(student, f"{student.obj.__name__}{shape.sizes or '()'}", build, student,
                    shape.sizes)
    if param_shapes:
        verdict = interface(student, layer, param_shapes)[-1]
        if not verdict.passed:
            return [Verdict(what, False, f"{verdict.what}: {verdict.detail}")]
        randomize(layer, param_shapes, rng)
    x = np.asfortranarray(exercise.draw(rng, shape.rows, shape.width_in))  # column-major
    dy = np.asfortranarray(rng.standard_normal((shape.rows, shape.width_out)))
    _, _, problem = pass_verdicts(exercise, student, layer, [key for key, _ in param_shapes],
                                  x, dy, f"{shape.rows} rows", shape.sizes)
    return [Verdict(what, not problem, problem + ("\nare a size, the batch size or a shape "
                                                  "written into the code?" if problem else ""))]


def check_layer_exercise(exercise, student, rng):
    """Every check of a layer exercise, as a list of Verdicts."""
    shape, second = exercise.shapes
    param_shapes = shapes_of(exercise, shape)
    layer = build(student, shape.sizes)
    verdicts = interface(student, layer, param_shapes)
    if verdicts and not verdicts[-1].passed:
        return verdicts
    randomize(layer, param_shapes, rng)  # random values, so that a wrong gradient shows
    keys = [key for key, _ in param_shapes]
    x = exercise.draw(rng, shape.rows, shape.width_in)
    params = current_params(layer, param_shapes, shape.sizes)
    given = x.copy()
    y = student.call("forward", layer.forward, given)
    out_shape = (shape.rows, shape.width_out)
    if not isinstance(y, np.ndarray) or y.shape != out_shape:
        return verdicts + [Verdict(f"forward returns an array of shape {out_shape}", False,
                                   f"got {type(y).__name__} of shape {np.shape(y)}")]
    verdicts.append(Verdict("forward leaves its input unchanged", np.array_equal(given, x),
                            "forward changed the array it was given: work on a copy"))
    dy = rng.standard_normal(out_shape)
    value_slip = slip(exercise, params, x, dy, y, 0)
    verdicts.append(values_verdict(f"forward values: {exercise.formula}", y,
                                   exercise.values(params, x),
                                   advice=value_slip or exercise.advice))
    first = np.array(y, dtype=float, copy=True)
    again = student.call("forward", layer.forward, x.copy())
    verdicts.append(Verdict("forward gives the same result twice",
                            np.allclose(np.asarray(again, dtype=float), first, rtol=1e-12, atol=0),
                            "a second call with the same input gave other values (noise or "
                            "targets drawn anew?)"))

    dy_given = dy.copy()
    dx = student.call("backward", layer.backward, dy_given)
    try:
        grads = answer_gradients(layer, keys)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]
    verdicts.append(Verdict("backward leaves dy unchanged", np.array_equal(dy_given, dy),
                            "backward changed the dy it was given: compute into a new array"))
    if keys:
        verdicts.append(Verdict("backward leaves the parameters unchanged",
                                all(np.array_equal(layer.params[key], params[key])
                                    for key in keys),
                                "backward changed params: it only computes gradients (the "
                                "optimizer updates the parameters)"))
    returned = isinstance(dx, np.ndarray) and dx.shape == x.shape
    name = exercise.input_name
    verdicts.append(Verdict(f"backward returns dL/d{name} of shape {x.shape}", returned,
                            f"it returned {type(dx).__name__} of shape {np.shape(dx)}: backward "
                            "must return the gradient of the loss for its input"))
    first_dx, dx = dx, np.array(dx, dtype=float, copy=True) if returned else dx
    dx2 = student.call("backward", layer.backward, dy.copy())
    try:
        again = answer_gradients(layer, keys)
    except Wrong as wrong:
        return verdicts + [wrong.verdict]
    same_grads = all(np.allclose(again[key], grads[key], rtol=1e-12, atol=0) for key in keys)
    same_dx = not returned or (isinstance(dx2, np.ndarray)
                               and np.allclose(dx2, dx, rtol=1e-12, atol=0))
    doubled = [what for what, now, before in
               [*((f"grads[{key!r}]", again[key], grads[key]) for key in keys),
                *([(f"dL/d{name}", dx2, dx)] if returned and isinstance(dx2, np.ndarray) else [])]
               if not np.allclose(now, before, rtol=1e-12, atol=0)
               and np.allclose(now, 2 * before, rtol=1e-9, atol=0)]
    if doubled:
        detail = (f"a second backward(dy) gave twice the first {doubled[0]}: write the result "
                  "anew each call (self.grads[key] = ...), do not add to it (+=)")
    elif returned and isinstance(dx2, np.ndarray) and np.shares_memory(dx2, first_dx):
        detail = ("backward returned the same array twice, and the second call changed it: "
                  "return a new array each call")
    else:
        which = "gradients" if not same_grads else f"dL/d{name}"
        detail = (f"a second backward(dy) gave other {which}: does backward change what "
                  "forward kept (an in-place **, *=, ...)?")
    verdicts.append(Verdict("backward overwrites: a second call gives the same",
                            same_grads and same_dx, detail))

    f = lambda: float(np.sum(student.call("forward", layer.forward, x) * dy))  # noqa: E731
    floor = resolvable_floor(f())
    factors = batch_factors(shape.rows)
    verdicts += parameter_verdicts(f, {key: layer.params[key] for key in keys}, grads,
                                   getattr(layer, "grads", {}), factors, floor)
    if returned:
        of = "by finite differences"
        if exercise.input_gradient is None:
            numerical = numerical_gradient(f, x)
        else:  # an estimator: the gradient of a surrogate, not of the forward pass
            surrogate, moving = exercise.input_gradient(params, x, dy), x.copy()
            numerical = numerical_gradient(lambda: surrogate(moving), moving)
            of += " of the estimator's surrogate"
        k = shape.width_in // 2
        halves = (("mu", slice(0, k)), ("logvar", slice(k, None)))
        for part, columns in halves if exercise.halves else ((name, slice(None)),):
            row = compare(part, dx[:, columns], numerical[:, columns], floor=floor,
                          factors=factors)
            if not row.passed and slip(exercise, params, x, dy, dx, 1):
                row.note = slip(exercise, params, x, dy, dx, 1)
            verdicts.append(gradient_verdict(row, f"gradient of {part} {dx[:, columns].shape} {of}",
                                             dx))
    right_so_far = all(v.passed for v in verdicts)
    later = []
    try:
        later += training_loop_verdicts(exercise, student, layer, shape, second, rng)
        later += other_shape_verdicts(exercise, student, second, rng)
    except Wrong as wrong:
        later.append(wrong.verdict)
        return verdicts + (later if right_so_far else without_guesses(later))
    verdicts += later if right_so_far else without_guesses(later)
    if exercise.lessons is not None:
        verdicts += exercise.lessons(student, lambda: build(student, shape.sizes))
    return verdicts


def slip(exercise, params, x, dy, got, which):
    """"yours is ..." if ``got`` (forward's values, which = 0; backward's dL/dx, which = 1)
    matches one of the exercise's classic slips to round-off, else ""."""
    for what, formula in exercise.slips:
        with np.errstate(all="ignore"):
            want = formula(params, x, dy)[which]
        if want is not None and not differs(got, want):
            return f"yours is {what}"
    return ""


def batch_factors(rows):
    return ((1 / rows, f"1/N = 1/{rows} of the right value: a mean over the batch where there "
             "is none (the loss's 1/N is not the layer's business)"),
            (rows, f"N = {rows} times the right value: a sum over the batch too many?"))
