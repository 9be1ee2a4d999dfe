"""Exercises 1 to 5, the layers: the formulas each answer is held to (values and gradients, by
``npvae.reference``), the inputs it is fed, and each exercise's own lessons (extreme inputs,
the variance of z, logits of +-1000). ``npvae.teaching.exercises`` judges them."""

import numpy as np

from .. import reference
from .exercises import OTHER_ROWS, LayerExercise, Shape, pass_verdicts
from .verdicts import N, Verdict, Wrong, values_verdict

def split(h):
    """[mu | logvar] (N, 2K) -> mu (N, K), logvar (N, K)."""
    k = h.shape[1] // 2
    return h[:, :k], h[:, k:]


def noise(shape):
    """The exercise's eps: ``np.random.default_rng(0).standard_normal(shape)``."""
    return np.random.default_rng(0).standard_normal(shape)


def targets(shape):
    """The exercise's Bernoulli targets: ``np.random.default_rng(0).random(shape)``."""
    return np.random.default_rng(0).random(shape)


def extreme_verdict(student, make, exercise, h, what):
    """Values and gradients by the formulas on an input of extreme values, in a new layer."""
    layer = make()
    dy = np.random.default_rng(1).standard_normal((len(h), exercise.shapes[0].width_out))
    with np.errstate(all="ignore"):
        try:
            _, _, problem = pass_verdicts(exercise, student, layer, [], h, dy, what)
        except Wrong as wrong:
            problem = wrong.verdict.detail
    return Verdict(f"forward and backward right at {what}", not problem, problem)


def tanh_lessons(student, make):
    x = np.tile([800.0, -800.0, 40.0, -40.0, 0.0], (N, 1))
    return [extreme_verdict(student, make, LAYERS["tanh"], x, "x = +-800, +-40 and 0")]


def kl_lessons(student, make):
    kl = np.ravel(student.call("forward", make().forward, np.zeros((N, 6))))
    advice = "the KL of a distribution from itself is 0"
    if kl.shape == (N,) and np.allclose(np.abs(kl), 1.5):  # K / 2, with K = 3
        advice += ": yours is K/2, the constant 1 in 1 + logvar - mu^2 - exp(logvar)?"
    return [values_verdict("KL(N(0, I) || N(0, I)) = 0", kl, np.zeros(N), advice=advice),
            extreme_verdict(student, make, LAYERS["kl"], wide_logvar(), LOGVAR_RANGE)]


LOGVAR_RANGE = "logvar from -45 to 30"


def wide_logvar():
    """[mu | logvar] (N, 6) with logvar from -45 to 30 (npvae's cap, from above only) and mu up
    to 5."""
    rng = np.random.default_rng(2)
    logvar = np.resize([-45.0, 30.0, -12.0, 12.0, 0.0, 25.0, -30.0], (N, 3))
    return np.hstack([5 * rng.uniform(-1, 1, (N, 3)), logvar])


def reparameterization_lessons(student, make):
    """z must have mean mu and variance exp(logvar): 20,000 draws, a new layer; and it must hold
    at logvar far from 0."""
    n, mu, logvar = 20_000, np.array([1.0, -2.0, 0.5]), np.array([-1.0, 1.0, 2.0])
    h = np.tile(np.concatenate([mu, logvar]), (n, 1))
    z = np.asarray(student.call("forward", make().forward, h), dtype=float)
    extreme = extreme_verdict(student, make, LAYERS["reparameterization"], wide_logvar(),
                              LOGVAR_RANGE)
    if z.shape != (n, 3):
        return [Verdict("z has mean mu and variance exp(logvar)", False,
                        f"forward of {n} rows gave shape {z.shape}"), extreme]
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
        elif var[k] < 1e-6 * np.exp(logvar[k]):
            detail += (". Every row of z is the same: eps needs one row per example, shape "
                       "(N, K), not one row for the whole batch")
    return [Verdict(f"z has mean mu and variance exp(logvar) ({n} draws)", bool(ok.all()),
                    detail), extreme]


NOT_FINITE = ("yours is inf or NaN at logits of +-1000: either exp overflowed (log(1 + exp(l)) "
              "at l = 1000) or a log met 0 (log(sigmoid(l)) or log(1 - p) at l = -1000 or "
              "1000); compute softplus(l) as max(l, 0) + log1p(exp(-|l|)) and never form p")


def bernoulli_lessons(student, make):
    """Finite and right at logits of +-1000, forward and backward (a new layer)."""
    logits = np.where(np.arange(N * 5).reshape(N, 5) % 2 == 0, 1000.0, -1000.0)
    logits[0, :2] = [3.0, -2.0]
    layer = make()
    with np.errstate(all="ignore"):
        nll = student.call("forward", layer.forward, logits.copy())
        dlogits = student.call("backward", layer.backward, np.ones((N, 1)))
    return [values_verdict("forward finite and right at logits of +-1000", nll,
                           LAYERS["bernoulli"].values({}, logits),
                           advice_if_not_finite=NOT_FINITE),
            values_verdict("backward finite and right at logits of +-1000", dlogits,
                           reference.sigmoid(logits) - targets(logits.shape),
                           advice_if_not_finite="sigmoid(l) = 1 / (1 + exp(-l)) for l >= 0 and "
                           "exp(l) / (1 + exp(l)) for l < 0 never overflows")]


def kl_values(params, h):
    mu, logvar = split(h)
    return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1, keepdims=True)


def kl_gradients(params, h, dy):
    mu, logvar = split(h)
    return np.hstack([dy * mu, dy * (np.exp(logvar) - 1) / 2]), {}


def reparameterization_values(params, h):
    mu, logvar = split(h)
    return mu + np.exp(logvar / 2) * noise(mu.shape)


def reparameterization_gradients(params, h, dz):
    mu, logvar = split(h)
    return np.hstack([dz, dz * noise(mu.shape) * np.exp(logvar / 2) / 2]), {}


def bernoulli_values(params, logits):
    return np.sum(reference.softplus(logits) - targets(logits.shape) * logits, axis=1,
                  keepdims=True)


def away_from_zero(rng, rows, width):
    """Inputs at least 0.1 from ReLU's kink at 0."""
    x = rng.standard_normal((rows, width))
    return np.where(x >= 0, x + 0.1, x - 0.1)


def normal(scale):
    return lambda rng, rows, width: scale * rng.standard_normal((rows, width))


LAYERS = {
    "dense": LayerExercise(
        "Exercise 1: the dense layer", "y = x W + b",
        (Shape(N, 5, 3, (5, 3)), Shape(OTHER_ROWS, 6, 2, (6, 2))), normal(1.0),
        lambda p, x: reference.dense(x, p["W"], p["b"]),
        lambda p, x, dy: (lambda dx, dW, db: (dx, {"W": dW, "b": db}))(
            *reference.dense_backward(dy, x, p["W"])),
        param_shapes=lambda s: (("W", (s.width_in, s.width_out)), ("b", (s.width_out,)))),
    "relu": LayerExercise(
        "Exercise 2: ReLU", "y = max(x, 0)", (Shape(N, 5, 5), Shape(OTHER_ROWS, 3, 3)),
        away_from_zero, lambda p, x: reference.relu(x),
        lambda p, x, dy: (reference.relu_backward(dy, x), {})),
    "tanh": LayerExercise(
        "Exercise 2: tanh", "y = tanh(x)", (Shape(N, 5, 5), Shape(OTHER_ROWS, 3, 3)),
        normal(1.5), lambda p, x: np.tanh(x),
        lambda p, x, dy: (dy * (1 - np.tanh(x) ** 2), {}), lessons=tanh_lessons,
        slips=(("dy * (1 - x^2): the derivative is 1 - tanh(x)^2, in the output y = tanh(x), "
                "not the input", lambda p, x, dy: (None, dy * (1 - x**2))),
               ("dy * (1 - y): the derivative is 1 - y^2", lambda p, x, dy: (
                   None, dy * (1 - np.tanh(x)))),
               ("dy * y (1 - y), the sigmoid's derivative; tanh's is 1 - y^2",
                lambda p, x, dy: (None, dy * np.tanh(x) * (1 - np.tanh(x)))),
               ("dy * (1 + y^2): the derivative is 1 - y^2", lambda p, x, dy: (
                   None, dy * (1 + np.tanh(x) ** 2))))),
    "kl": LayerExercise(
        "Exercise 3: the KL term", "KL = -1/2 sum_k (1 + logvar - mu^2 - exp(logvar)), (N, 1)",
        (Shape(N, 6, 1), Shape(OTHER_ROWS, 10, 1)), normal(1.0), kl_values, kl_gradients,
        input_name="h", halves=True, lessons=kl_lessons,
        slips=(("the mean over the K latent dimensions (1/K of the KL): the KL sums them",
                lambda p, h, dy: (kl_values(p, h) / (h.shape[1] // 2), None)),
               ("the mean over the batch (1/N of each row's KL): each row keeps its own",
                lambda p, h, dy: (kl_values(p, h) / len(h), None)))),
    "reparameterization": LayerExercise(
        "Exercise 4: the reparameterization",
        "z = mu + exp(logvar / 2) * eps, eps np.random.default_rng(0).standard_normal((N, K))",
        (Shape(N, 6, 3), Shape(OTHER_ROWS, 10, 5)), normal(1.0), reparameterization_values,
        reparameterization_gradients, input_name="h", halves=True,
        lessons=reparameterization_lessons,
        advice="the standard deviation is exp(logvar / 2) (exp(logvar) is the variance), and eps "
        "is np.random.default_rng(0).standard_normal((N, K)), drawn for each new batch shape"),
    "bernoulli": LayerExercise(
        "Exercise 5: the Bernoulli likelihood",
        "softplus(l) - x l summed over D, (N, 1), targets np.random.default_rng(0).random",
        (Shape(N, 5, 1), Shape(OTHER_ROWS, 3, 1)), normal(3.0), bernoulli_values,
        lambda p, logits, dy: (dy * (reference.sigmoid(logits) - targets(logits.shape)), {}),
        input_name="logits", lessons=bernoulli_lessons,
        slips=(("the mean over the D pixels (1/D of the loss): the loss sums them",
                lambda p, logits, dy: (bernoulli_values(p, logits) / logits.shape[1], None)),
               ("sigmoid(l) - x without dy: backward must multiply by dy = dL/dloss",
                lambda p, logits, dy: (None, reference.sigmoid(logits) - targets(logits.shape))),
               ("x - sigmoid(l), the sign flipped", lambda p, logits, dy: (
                   None, dy * (targets(logits.shape) - reference.sigmoid(logits))))),
        advice="check both softplus(l) = max(l, 0) + log1p(exp(-|l|)) (at l = 0 each row's "
        "loss is D log 2, whatever the targets) and the targets, "
        "np.random.default_rng(0).random((N, D)) for each new batch shape"),
}
