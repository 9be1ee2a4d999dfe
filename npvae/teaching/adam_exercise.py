"""Exercise 6, Adam: the student's optimizer steps a model's parameters and is read back
through the model's own views, against ``npvae.reference.adam_step``; where it goes wrong, the
checker names a slip only when the numbers match it."""

import numpy as np

from .. import reference
from ..nn.layers import Dense
from ..nn.params import Parameters
from .gradcheck import rel_error
from .student import CouldNotCheck
from .verdicts import Verdict, numbers

def adam_path(start, gradients, lr, betas, eps, writes=None, eps_inside=False, t_stuck=False):
    """Adam's parameters after each step, as flat vectors, from ``start``; ``writes``: {step:
    vector written into the parameters just before that step}. The two flags make the slips
    a failure is compared with: eps under the square root, a t that stays 1."""
    theta, m, v, path = np.array(start, dtype=float), 0.0, 0.0, []
    for t, g in enumerate(gradients, 1):
        theta = np.array((writes or {}).get(t, theta), dtype=float)
        t = 1 if t_stuck else t
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
        path.append(theta)
    return path


def reference_path(names, start, gradients, lr, betas, eps, writes=None):
    """The same steps by ``npvae.reference.adam_step``, on the named arrays: the specification."""
    shapes = {name: np.shape(value) for name, value in start.items()}
    sizes = np.cumsum([0] + [int(np.prod(shapes[name])) for name in names])

    def named(vector):
        return {name: np.array(vector[sizes[i]:sizes[i + 1]]).reshape(shapes[name])
                for i, name in enumerate(names)}

    params, state, path = {name: start[name].copy() for name in names}, None, []
    for t, g in enumerate(gradients, 1):
        if writes and t in writes:
            params = named(writes[t])
        params, state = reference.adam_step(params, named(g), state, lr, betas, eps)
        path.append(np.concatenate([params[name].ravel() for name in names]))
    return path


def adam_slip(got, right, start, gradients, t, lr, betas, eps, writes):
    """What a wrong step ``t`` matches, said only when it matches: a slip of the formula."""
    slips = (("the betas swapped (m must use beta1, v beta2)", dict(betas=betas[::-1])),
             ("eps inside the square root (it goes outside: sqrt(v_hat) + eps)",
              dict(eps_inside=True)),
             ("t kept at 1 (t counts the steps: 1, 2, ...)", dict(t_stuck=True)),
             ("lr = 0.001 instead of the lr passed", dict(lr=1e-3)),
             ("eps = 1e-8 instead of the eps passed", dict(eps=1e-8)))
    for meaning, change in slips:
        options = {**dict(lr=lr, betas=betas, eps=eps), **change}
        if options == dict(lr=lr, betas=betas, eps=eps):
            continue
        want = adam_path(start, gradients, writes=writes, **options)[t - 1]
        off = rel_error(got, want, floor=1e-12).max()
        if rel_error(want, right, floor=1e-12).max() <= 100 * off:
            continue  # the slip changes too little at this step to be told from the right
        if off <= 1e-9:
            return f"yours is what Adam gives with {meaning}"
    return ""


def run_adam(student, params, gradients, lr, betas, eps, label, writes=None, show=False):
    """One Verdict for steps of the student's Adam on ``params``, read back through the views,
    against ``npvae.reference.adam_step``; and whether every step left params.grad alone."""
    optimizer = student.call(f"{student.obj.__name__}(params, {lr}, {betas}, {eps})",
                             student.obj, params, lr, betas, eps)
    if not callable(getattr(optimizer, "step", None)):
        raise CouldNotCheck(f"{student.spec} has no method step")
    vector, views = params.vector, dict(params.values)  # what the model's layers hold
    start = {name: value.copy() for name, value in params.values.items()}
    flat_start = vector.copy()
    path = reference_path(params.names, start, gradients, lr, betas, eps, writes)
    if show:
        label += ": theta = " + ", then ".join(str(np.round(p, 6).tolist()) for p in path)
    grad_kept = True
    for t, (g, want) in enumerate(zip(gradients, path), 1):
        if writes and t in writes:
            vector[...] = writes[t]  # as loading a checkpoint or clipping weights would
        params.grad[...] = g
        before = vector.copy()
        student.call("step", optimizer.step)
        got = vector.copy()  # read back through the model's own vector, as its layers see it
        grad_kept &= bool(np.array_equal(params.grad, g))
        if rel_error(got, want, floor=1e-12).max() <= 1e-10:  # False for NaN
            continue
        detail = f"at step {t}:\nexpected {numbers(want)}\nyours    {numbers(got)}"
        replaced = [name for name in params.names if params.values[name] is not views[name]]
        moved = np.abs(got - before)
        if params.vector is not vector:
            detail += ("\nparams.vector was replaced by a new array, so the model's named views "
                       "(params.values) still hold the old numbers: update it in place, "
                       "params.vector -= ... or params.vector[...] = ...")
        elif replaced:
            detail += (f"\nparams.values[{replaced[0]!r}] was replaced by a new array, which "
                       "the model's layers never see: update the view in place, "
                       "params.values[name] -= ... (or update params.vector)")
        elif np.array_equal(got, before):
            detail += ("\nstep changed no parameter that the model's views can see: does it "
                       "read params.grad anew at every step (a copy made in __init__ stays as "
                       "it was) and write into params.vector itself?")
        elif writes and t in writes and rel_error(got, adam_path(
                flat_start, gradients, lr, betas, eps)[t - 1], floor=1e-12).max() <= 1e-9:
            detail += ("\nyour step went on from the parameters as they were before they were "
                       "written: does it keep a copy of params.vector? Read the parameters "
                       "anew at every step")
        else:
            slip = adam_slip(got, want, flat_start, gradients, t, lr, betas, eps, writes)
            if slip:
                detail += f"\n{slip}"
            elif t == 1 and np.allclose(moved, moved[0], rtol=1e-6) \
                    and not np.isclose(moved[0], lr, rtol=1e-6):
                detail += step_one_advice(moved[0], lr, betas)
            elif rel_error(got, want, floor=1e-12).max() < 1e-5:
                detail += ("\nclose, but not Adam's numbers to 1e-10; this checker cannot tell "
                           "why (float32 arithmetic somewhere? eps placed elsewhere?)")
        return Verdict(label, False, detail), grad_kept
    return Verdict(label, True), grad_kept


def step_one_advice(move, lr, betas):
    """Why every parameter moved by the same ``move`` at step 1, where Adam moves each by lr."""
    b1, b2 = betas
    causes = [meaning for factor, meaning in (
        ((1 - b1) / np.sqrt(1 - b2), "both bias corrections left out"),
        (1 / np.sqrt(1 - b2), "m's bias correction 1 - beta1^t left out"),
        (1 - b1, "v's bias correction 1 - beta2^t left out"),
        (2.0, "two updates in one step")) if abs(move / lr - factor) <= 1e-3 * factor]
    advice = (f"\nat step 1, m_hat = g and v_hat = g^2, so Adam moves every parameter by lr = "
              f"{lr:g}; yours moved each by {move:.6g} ({move / lr:.4g} lr)")
    if causes:
        advice += ": " + " or ".join(causes) + (", which give the same here" if len(causes) > 1
                                                else "") + "?"
    return advice


def check_adam(student, rng):
    """The exercise's example by hand; other hyperparameters on several views; a large eps;
    gradients as small as eps; parameters written between two steps; two optimizers at once.
    Always the same rows, whatever fails."""
    example = Parameters([("layer", Dense(1, 1))], np.float64)
    example.vector[...] = [1.0, -2.0]

    def model():  # 9 parameters in 4 named views
        return Parameters([("first", Dense(2, 2, rng)), ("second", Dense(2, 1, rng))], np.float64)

    def gradients(steps, scale=1.0):
        return [scale * rng.standard_normal(9) for _ in range(steps)]

    sparse = gradients(4)  # entries of exactly 0, as a dead ReLU's weights get
    for t, g in enumerate(sparse):
        g[t::3] = 0.0

    runs = [(example, [np.array([0.5, -1.0]), np.array([0.1, 0.3])], 0.1, (0.9, 0.999), 1e-8,
             "the exercise's example", None, True),
            (model(), gradients(4), 0.01, (0.8, 0.99), 1e-8,
             "lr 0.01, betas (0.8, 0.99), 9 parameters in 4 views", None, False),
            (model(), sparse, 0.01, (0.9, 0.999), 1e-8,
             "gradients with entries of exactly 0 (m and v still decay there)", None, False),
            (model(), gradients(3), 0.01, (0.9, 0.999), 0.5, "eps 0.5, where eps matters", None,
             False),
            (model(), gradients(3, 1e-8), 0.01, (0.9, 0.999), 1e-8, "gradients as small as eps",
             None, False),
            (model(), gradients(3), 0.01, (0.9, 0.999), 1e-8,
             "parameters written between steps 1 and 2: step 2 starts from them",
             {2: rng.standard_normal(9)}, False)]
    verdicts, grad_kept = [], True
    for i, (params, grads, lr, betas, eps, label, writes, show) in enumerate(runs):
        try:
            verdict, kept = run_adam(student, params, grads, lr, betas, eps, label, writes, show)
        except CouldNotCheck as error:
            if not i:  # the first run: the answer cannot run at all
                raise
            verdict, kept = Verdict(label, False, f"{error}: does an optimizer keep state "
                                    "from another (on the class, or in a default argument)?"), True
        verdicts.append(verdict)
        grad_kept &= kept
    try:
        verdicts.append(two_optimizers_verdict(student, model(), model(), gradients(3),
                                               gradients(3)))
    except CouldNotCheck as error:
        verdicts.append(Verdict("two optimizers stepping in turn keep their own state", False,
                                str(error)))
    verdicts.append(Verdict("step leaves params.grad alone", grad_kept,
                            "step changed the gradient it was given"))
    return verdicts


def two_optimizers_verdict(student, first, second, first_grads, second_grads):
    """Two optimizers stepping in turn (two models, as a FactorVAE's two networks): each must
    follow its own gradients, unaffected by the other."""
    lr, betas, eps = 0.01, (0.9, 0.999), 1e-8
    what = "two optimizers stepping in turn keep their own state"
    optimizers = [student.call(f"{student.obj.__name__}(params, ...)", student.obj, params, lr,
                               betas, eps) for params in (first, second)]
    paths = [reference_path(p.names, {n: v.copy() for n, v in p.values.items()}, g, lr, betas,
                            eps) for p, g in ((first, first_grads), (second, second_grads))]
    for t in range(len(first_grads)):
        for optimizer, params, grads, path in zip(optimizers, (first, second),
                                                  (first_grads, second_grads), paths):
            params.grad[...] = grads[t]
            student.call("step", optimizer.step)
            if not rel_error(params.vector, path[t], floor=1e-12).max() <= 1e-10:
                return Verdict(what, False, f"at step {t + 1}, the parameters differ from Adam's "
                               "with these gradients alone: is state (m, v or t) kept on the class "
                               "or in a default argument, and so shared by every optimizer?")
    return Verdict(what, True)
