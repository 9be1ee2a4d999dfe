"""Exercises 9 and 10, beyond one sample: the importance-weighted bound of a small linear
Gaussian model and its gradient (``iwae``), then the gradients of sticking the landing (``stl``)
and DReG (``dreg``). The formulas each answer is held to, the inputs it is fed, its lessons;
``npvae.teaching.exercises`` judges them as it judges the layers.

The model, small enough to know its exact likelihood: L latent and L data dimensions,

    p(z) = N(0, I),   p(x | z) = N(x; z W, I),   q(z | x) = N(mu, diag(exp(logvar)))

so that p(x) = N(0, I + W^T W). The layer ``MyIWAE(K, L)`` holds ``params["W"]`` (L, L); its
``forward(h)`` takes h = [mu | logvar] (N, 2L) and returns each row's bound (N, 1), with

    x   = np.random.default_rng(1).standard_normal((N, L))       the data
    eps = np.random.default_rng(0).standard_normal((K, N, L))    the noise: draws first
    z_k = mu + exp(logvar / 2) eps_k,  r_k = x - z_k W
    log w_k = -1/2 |r_k|^2 - 1/2 |z_k|^2 + 1/2 sum (eps_k^2 + logvar) - L/2 log(2 pi)
    bound   = log (1/K) sum_k w_k

``backward(dy)`` (dy (N, 1)) returns dL/dh (N, 2L) and writes grads["W"], for L = sum dy bound:
with the normalised weights wt_k = w_k / sum_j w_j and g_k = r_k W^T - z_k,

    "iwae" dmu = sum_k wt_k g_k,   dlogvar = sum_k wt_k (g_k eps_k std / 2 + 1/2)
    "stl"  s_k = g_k + eps_k / std,   dmu = sum_k wt_k s_k,   dlogvar = sum_k wt_k s_k eps_k std / 2
    "dreg" the same with wt_k^2
    dW   = sum_n dy_n sum_k wt_k z_k^T r_k           (all three: the bound's own)
"""

import math

import numpy as np

from .exercises import OTHER_ROWS, LayerExercise, Shape, pass_verdicts
from .gradcheck import numerical_gradient
from .verdicts import N, Verdict, Wrong, values_verdict

LOG_2PI = math.log(2 * math.pi)
FIRST, SECOND = Shape(N, 6, 1, (5, 3)), Shape(OTHER_ROWS, 10, 1, (2, 5))  # MyIWAE(K, L)


def data(n, L):
    """The exercise's x (N, L): ``np.random.default_rng(1).standard_normal((N, L))``."""
    return np.random.default_rng(1).standard_normal((n, L))


def noise(k, n, L):
    """The exercise's eps (K, N, L): ``np.random.default_rng(0).standard_normal((K, N, L))``."""
    return np.random.default_rng(0).standard_normal((k, n, L))


def softmax_and_bound(log_w):
    """wt (K, N) and log (1/K) sum_k w_k (N,), the largest log w subtracted before exp."""
    top = log_w.max(axis=0)
    w = np.exp(log_w - top)
    return w / w.sum(axis=0), top + np.log(w.sum(axis=0)) - math.log(len(log_w))


def model(params, h, q=None, eps=None, std=None):
    """Everything at h = [mu | logvar] (N, 2L) and W = params["W"], for K = params["sizes"][0]:
    a dict of x, eps, z, r, std, log_w, wt, bound. ``q``: (mu, logvar) whose log q is used in
    log w instead of h's own (the surrogates hold it); ``eps``, ``std``: other noise, another
    standard deviation (a slip's)."""
    k, L = params["sizes"][0], h.shape[1] // 2
    mu, logvar = h[:, :L], h[:, L:]
    x = data(len(h), L)
    eps = noise(k, len(h), L) if eps is None else eps
    std = np.exp(logvar / 2) if std is None else std
    z = mu + std * eps  # (K, N, L)
    r = x - z @ params["W"]
    if q is None:
        minus_log_q = 0.5 * np.sum(eps**2 + logvar, axis=2)
    else:
        minus_log_q = 0.5 * np.sum((z - q[0]) ** 2 / np.exp(q[1]) + q[1], axis=2)
    log_w = (-0.5 * np.sum(r**2, axis=2) - 0.5 * np.sum(z**2, axis=2) + minus_log_q
             - L / 2 * LOG_2PI)
    wt, bound = softmax_and_bound(log_w)
    return {"x": x, "eps": eps, "z": z, "r": r, "std": std, "log_w": log_w, "wt": wt,
            "bound": bound}


def values(params, h):
    return model(params, h)["bound"][:, None]


def gradients(estimator):
    """(params, h, dy) -> (dL/dh, {"W": dL/dW}) of ``estimator``: "iwae", "stl" or "dreg"."""
    def grads(params, h, dy):
        m = model(params, h)
        wt, eps, std, z, r = m["wt"], m["eps"], m["std"], m["z"], m["r"]
        g = r @ params["W"].T - z  # (K, N, L): d [log p(x | z) + log p(z)] / dz
        if estimator == "iwae":
            dmu = np.sum(wt[..., None] * g, axis=0)
            dlogvar = np.sum(wt[..., None] * (g * eps * std / 2 + 0.5), axis=0)
        else:
            weight = (wt if estimator == "stl" else wt**2)[..., None]
            s = g + eps / std
            dmu, dlogvar = np.sum(weight * s, axis=0), np.sum(weight * s * eps * std / 2, axis=0)
        dW = np.einsum("kn,kni,knj->ij", wt * dy[:, 0], z, r)
        return np.hstack([dy * dmu, dy * dlogvar]), {"W": dW}
    return grads


def surrogate(estimator):
    """(params, h0, dy) -> f(h): the function of h whose gradient at h0 the estimator is,
    its held quantities taken at h0: "stl" holds log q's parameters, "dreg" the weights too."""
    def make(params, h0, dy):
        L = h0.shape[1] // 2
        q = (h0[:, :L].copy(), h0[:, L:].copy())
        held = model(params, h0)["wt"]
        if estimator == "stl":
            return lambda h: float(np.sum(dy[:, 0] * model(params, h, q)["bound"]))
        return lambda h: float(np.sum(dy[:, 0] * np.sum(held**2 * model(params, h, q)["log_w"],
                                                         axis=0)))
    return make


def weights_differentiated(params, h, dy):
    """DReG with the weights not held: the gradient of sum_k wt_k^2 log w_k, wt moving too."""
    L = h.shape[1] // 2
    q = (h[:, :L].copy(), h[:, L:].copy())

    def f(moving):
        m = model(params, moving, q)
        return float(np.sum(dy[:, 0] * np.sum(m["wt"] ** 2 * m["log_w"], axis=0)))
    moving = h.copy()
    return None, numerical_gradient(lambda: f(moving), moving)


def draw(rng, rows, width):
    """[mu | logvar]: mu ~ N(0, 0.5^2), logvar ~ N(-1, 0.5^2), near the posterior's scale."""
    return np.hstack([0.5 * rng.standard_normal((rows, width // 2)),
                      -1 + 0.5 * rng.standard_normal((rows, width // 2))])


def new_layer(student, make, W):
    layer = make()
    try:
        layer.params["W"][...] = W
    except Exception as error:  # (interface() already judged params; a layer built anew)
        raise Wrong(Verdict("a new layer's params['W'] takes new values in place", False,
                            f"{type(error).__name__}: {error}")) from None
    return layer


def extreme_verdict(student, make, exercise, what, h, W):
    """Values and gradients by the formulas at h, in a new layer with W."""
    layer = new_layer(student, make, W)
    dy = np.random.default_rng(1).standard_normal((len(h), 1))
    with np.errstate(all="ignore"):
        try:
            _, _, problem = pass_verdicts(exercise, student, layer, ["W"], h, dy, what,
                                          FIRST.sizes)
        except Wrong as wrong:
            problem = wrong.verdict.detail
    if problem and ("inf" in problem or "nan" in problem.lower()):
        problem += (". Every w_k underflows to 0 here: subtract the largest log w_k before exp "
                    "(log sum_k w_k = top + log sum_k exp(log w_k - top)), in the weights too")
    return Verdict(f"forward and backward right at {what}", not problem, problem)


def lessons(exercise):
    def check(student, make):
        k, L = FIRST.sizes
        rng = np.random.default_rng(3)
        # the true posterior of W = I: N(x / 2, I / 2), where every weight is p(x)
        layer = new_layer(student, make, np.eye(L))
        x = data(N, L)
        h = np.hstack([x / 2, np.full((N, L), math.log(0.5))])
        bound = student.call("forward", layer.forward, h)
        exact = -0.25 * np.sum(x**2, axis=1, keepdims=True) - L / 2 * math.log(4 * math.pi)
        verdicts = [values_verdict("at the true posterior every w_k = p(x): the bound is "
                                   "log N(x; 0, 2I) exactly", bound, exact,
                                   advice="log w_k = log p(x, z_k) - log q(z_k | x) is the same "
                                   "for every draw there")]
        far = draw(rng, N, 2 * L)  # every other row far: its own largest log w_k, not the batch's
        far[::2, :L] += np.where(np.arange(len(far[::2]) * L).reshape(-1, L) % 2, 40.0, -40.0)
        verdicts.append(extreme_verdict(student, make, exercise, "mu 40 from the data in every "
                                        "other row (their log w_k near -2,000)", far,
                                        rng.standard_normal((L, L))))
        wide = draw(rng, N, 2 * L)
        wide[:, L:] = np.resize([-30.0, 30.0, -12.0, 12.0, 0.0, 20.0, -20.0], (N, L))
        verdicts.append(extreme_verdict(student, make, exercise, "logvar from -30 to 30", wide,
                                        rng.standard_normal((L, L))))
        return verdicts
    return check


def exercise(name, title, gradients_of, slips=(), input_gradient=None):
    return LayerExercise(
        title, "bound = log (1/K) sum_k w_k of the linear Gaussian model, (N, 1)",
        (FIRST, SECOND), draw, values, gradients_of, input_name="h",
        halves=True, param_shapes=lambda s: (("W", (s.sizes[1], s.sizes[1])),),
        lessons=None, advice="eps is np.random.default_rng(0).standard_normal((K, N, L)), the "
        "draws first, x np.random.default_rng(1).standard_normal((N, L)); the bound is the "
        "log of the mean of w_k over the K draws", slips=slips, input_gradient=input_gradient)


def value_slips():
    def swapped(params, h, dy):
        k, L = params["sizes"][0], h.shape[1] // 2
        eps = np.random.default_rng(0).standard_normal((len(h), k, L)).transpose(1, 0, 2)
        return model(params, h, eps=eps)["bound"][:, None], None

    def elbo(params, h, dy):
        return model(params, h)["log_w"].mean(axis=0)[:, None], None

    def no_log_k(params, h, dy):
        return values(params, h) + math.log(params["sizes"][0]), None
    def variance_as_std(params, h, dy):
        return model(params, h, std=np.exp(h[:, h.shape[1] // 2:]))["bound"][:, None], None

    def log_2pi_kept(params, h, dy):
        return values(params, h) - h.shape[1] // 2 / 2 * LOG_2PI, None

    def minus_log_n(params, h, dy):
        return values(params, h) + math.log(params["sizes"][0] / len(h)), None
    return (("computed with eps of shape (N, K, L): the draws come first, (K, N, L)", swapped),
            ("the mean of log w_k over the draws, the K-draw ELBO: the bound is the log of the "
             "mean of w_k", elbo),
            ("log sum_k w_k: the bound is the log of the mean, minus log K", no_log_k),
            ("computed with exp(logvar) as the standard deviation: it is exp(logvar / 2)",
             variance_as_std),
            ("the bound with log(2 pi) once too often: two of the three log densities' "
             "L/2 log(2 pi) cancel (log p(z) and log q), one stays (log p(x | z))", log_2pi_kept),
            ("minus log N, the batch size: the bound's mean is over the K draws, minus log K",
             minus_log_n))


def gradient_slips(estimator):
    def averaged(params, h, dy):
        m = model(params, h)
        g = m["r"] @ params["W"].T - m["z"]
        dmu, dlogvar = g.mean(axis=0), np.mean(g * m["eps"] * m["std"] / 2 + 0.5, axis=0)
        return None, np.hstack([dy * dmu, dy * dlogvar])

    def named(other, what):
        return what, lambda params, h, dy: (None, gradients(other)(params, h, dy)[0])

    def changed(what, dlogvar_change=0.0, slope=True, of_dy=True):
        """This estimator's gradient with +dlogvar_change * sum_k weight_k added to dlogvar,
        without log q's slope eps / std (slope=False), or for dy = 1 (of_dy=False)."""
        def grads(params, h, dy):
            m = model(params, h)
            wt, eps, std = m["wt"], m["eps"], m["std"]
            weight = (wt**2 if estimator == "dreg" else wt)[..., None]
            g = m["r"] @ params["W"].T - m["z"]
            if estimator == "iwae" or not slope:
                s = g
                half = 0.5 if estimator == "iwae" else 0.0
            else:
                s, half = g + eps / std, 0.0
            dmu = np.sum(weight * s, axis=0)
            dlogvar = np.sum(weight * (s * eps * std / 2 + half + dlogvar_change), axis=0)
            d = dy if of_dy else np.ones_like(dy)
            return None, np.hstack([d * dmu, d * dlogvar])
        return what, grads

    ignored = changed("the gradient for dy = 1: backward multiplies by dy = dL/dbound",
                      of_dy=False)
    if estimator == "iwae":
        return (("the draws' gradients averaged (1/K each): each is weighted by its normalised "
                 "weight wt_k = w_k / sum_j w_j", averaged),
                named("stl", "sticking the landing's gradient (exercise 10): the bound's own "
                      "keeps log q's score, +1/2 on logvar and no eps / std"),
                changed("without log q's +1/2 in dlogvar: log q = -1/2 sum (eps^2 + logvar) "
                        "gives each logvar +1/2 in log w", dlogvar_change=-0.5), ignored)
    others = [named("iwae", "the bound's own gradient (exercise 9): the estimator drops log "
                    "q's score term and keeps its slope in z, eps / std"),
              changed("without log q's slope in z: the estimator holds log q's parameters, "
                      "not z, so s_k = g_k + eps_k / std", slope=False),
              changed("with log q's score +1/2 on logvar kept: the estimator drops it",
                      dlogvar_change=0.5), ignored]
    if estimator == "dreg":
        others += [named("stl", "sticking the landing's (weights wt_k): DReG squares them"),
                   ("the gradient with the weights differentiated too: DReG holds wt_k^2 as "
                    "constants and differentiates log w_k alone", weights_differentiated)]
    else:
        others += [named("dreg", "DReG's (squared weights): sticking the landing keeps wt_k")]
    return tuple(others)


def build_exercises():
    titles = {"iwae": "Exercise 9: the IWAE bound and its gradient",
              "stl": "Exercise 10: sticking the landing",
              "dreg": "Exercise 10: DReG"}
    result = {}
    for name, title in titles.items():
        ex = exercise(name, title, gradients(name),
                      (value_slips() + gradient_slips(name)),
                      None if name == "iwae" else surrogate(name))
        ex.lessons = lessons(ex)
        result[name] = ex
    return result


IWAE_LAYERS = build_exercises()
