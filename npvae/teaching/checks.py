"""The checks ``npvae gradcheck`` runs: every piece of the VAE against finite differences, a
user's own layer (``--layer``), and the exercises (``--exercise``, judged by
``npvae.teaching.exercises``).

Each check gives rows of ``npvae.teaching.gradcheck.CheckRow``, in float64 with fixed noise.
``broken(name)`` swaps in a deliberately wrong backward formula, to show what a failing report
looks like.
"""

import contextlib
import sys
from dataclasses import dataclass

import numpy as np

from ..models import vae
from ..models.discriminator import LeakyReLU, permute_dims
from ..models.factorvae import FactorVAE
from ..models.importance import ESTIMATORS, surrogate
from ..models.tcvae import TCVAE
from ..nn import losses
from ..nn.layers import Dense, ReLU, Sigmoid, Tanh
from .verdicts import build
from .gradcheck import (DEFAULT_H, DEFAULT_TOL, check_array, check_layer, check_model,
                        format_report, resolvable_floor)
from .student import CouldNotCheck


def away_from_kink(rng, shape, margin=0.1):
    """Standard normal numbers moved at least ``margin`` away from 0, ReLU's kink."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def check_function(f, inputs, analytic):
    """Rows for a function of several arrays: ``f()`` reads ``inputs`` (dict name -> array,
    perturbed in place) and ``analytic`` gives its gradient for each name."""
    floor = resolvable_floor(f())
    return [check_array(name, f, x, analytic[name], floor=floor) for name, x in inputs.items()]


def kl_rows(rng):
    mu, logvar, w = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    _, dmu, dlogvar = losses.kl_normal(mu, logvar)
    f = lambda: np.dot(losses.kl_normal(mu, logvar)[0], w)  # noqa: E731
    return check_function(f, {"mu": mu, "logvar": logvar}, {"mu": dmu * w[:, None],
                                                          "logvar": dlogvar * w[:, None]})


def free_bits_rows(rng):
    """The KL with free bits, its floor between two dimensions' batch means (a kink at each
    dimension's floor, kept well away from it): one dimension above the floor, two below."""
    mu, logvar = rng.standard_normal((6, 3)), 0.3 * rng.standard_normal((6, 3))
    mu[:, 0] += 2  # dimension 0 carries about 2 nats, the others far less
    means = np.sort((mu * mu + np.exp(logvar) - 1 - logvar).mean(axis=0) / 2)
    floor = (means[-2] + means[-1]) / 2
    _, _, dmu, dlogvar = losses.kl_free_bits(mu, logvar, floor)
    f = lambda: losses.kl_free_bits(mu, logvar, floor)[1].sum()  # noqa: E731
    return check_function(f, {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar})


def learned_std_rows(learned, rng):
    """A Gaussian NLL with a learned standard deviation: the mean and log_std gradients."""
    loss = losses.GaussianNLL(learned=learned, dim=6)
    log_std = loss.params["scaled_log_std"]
    log_std[...] = 0.05 * rng.standard_normal(log_std.shape)
    x, out, w = rng.random((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal(4)
    loss.forward(out, x)
    dout, dlog_std = loss.backward(w).copy(), loss.grads["scaled_log_std"].copy()
    f = lambda: np.dot(loss.forward(out, x), w)  # noqa: E731
    floor = resolvable_floor(f())
    # the step: h in log s, as for any other input (the parameter is log s / LOG_STD_SCALE)
    return [check_array("mean", f, out, dout, floor=floor),
            check_array("scaled_log_std", f, log_std, dlog_std,
                        h=DEFAULT_H / losses.LOG_STD_SCALE, floor=floor)]


def floor_between(model, x):
    """A free-bits floor halfway between the two largest batch-mean KLs of the model's
    dimensions on x: far from both, so that no finite-difference step crosses it."""
    mu, logvar = model.encode(x)
    means = np.sort((mu * mu + np.exp(logvar) - 1 - logvar).mean(axis=0) / 2)
    return float((means[-2] + means[-1]) / 2)


def reparameterization_rows(rng):
    mu, logvar = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    eps, dz = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    dmu, dlogvar = vae.reparameterize_backward(dz, logvar, eps)
    f = lambda: np.sum(vae.reparameterize(mu, logvar, eps) * dz)  # noqa: E731
    return check_function(f, {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar})


def likelihood_rows(loss, rng):
    x, out, w = rng.random((4, 6)), rng.standard_normal((4, 6)) * 3, rng.standard_normal(4)
    loss.forward(out, x)
    dout = loss.backward(w).copy()
    return check_function(lambda: np.dot(loss.forward(out, x), w), {"logits or mean": out},
                          {"logits or mean": dout})


def smallest_kink_input(net, h):
    """The smallest |input| of any ReLU or LeakyReLU of a Sequential ``net`` run on h."""
    smallest = np.inf
    for layer in net.layers:
        if isinstance(layer, (ReLU, LeakyReLU)):
            smallest = min(smallest, float(np.abs(h).min()))
        h = layer.forward(h)
    return smallest


def smallest_relu_input(model, x, eps):
    """The smallest |input| of any ReLU in the model for this batch. A check can fail at a kink,
    with no bug, when a step of h moves such an input across 0."""
    h = model.encoder.forward(x)
    logvar = np.minimum(model.logvar_head.forward(h), vae.LOGVAR_MAX)
    z = vae.reparameterize(model.mu_head.forward(h), logvar, eps)
    return min(smallest_kink_input(model.encoder, x), smallest_kink_input(model.decoder, z))


@dataclass
class Section:
    """One block of the report: a title, its rows, their tolerance and a note to print."""
    title: str
    rows: list
    tol: float = DEFAULT_TOL
    note: str = None


def standard_sections(random_state=0):
    """Every check of npvae's own code, as a list of ``Section``."""
    rng = np.random.default_rng(random_state)
    dense = Dense(5, 4, rng, np.float64)
    dense.params["b"][...] = rng.standard_normal(4)
    sections = [Section("Dense 5 -> 4", check_layer(dense, rng.standard_normal((3, 5)),
                                                    random_state=rng))]
    for layer in (ReLU(), Tanh(), Sigmoid()):
        sections.append(Section(type(layer).__name__,
                                check_layer(layer, away_from_kink(rng, (3, 5)), random_state=rng)))
    sections += [Section("KL(N(mu, exp(logvar)) || N(0, I))", kl_rows(rng)),
                 Section("Bernoulli NLL from logits", likelihood_rows(losses.BernoulliNLL(), rng)),
                 Section("Gaussian NLL, fixed std 0.5",
                         likelihood_rows(losses.GaussianNLL(0.5), rng)),
                 Section("Gaussian NLL, learned std (one for all dimensions)",
                         learned_std_rows("shared", rng)),
                 Section("Gaussian NLL, learned std per dimension",
                         learned_std_rows("per-dim", rng)),
                 Section("KL with free bits (floor between the dimensions' batch means)",
                         free_bits_rows(rng)),
                 Section("Reparameterization z = mu + exp(logvar / 2) * eps",
                         reparameterization_rows(rng))]
    for likelihood in ("bernoulli", "gaussian"):
        model = vae.VAE(12, (8, 6), 3, likelihood=likelihood, beta=0.7, dtype=np.float64,
                        random_state=rng)
        for name, value in model.named_parameters():  # biases start at 0: a layer dead for an
            if name.endswith(".b"):  # example would put the next layer's inputs exactly on a kink
                value[...] = 0.1 * rng.standard_normal(value.shape)
        x, eps = rng.random((5, 12)), rng.standard_normal((5, 3))
        rows = check_model(model, x, eps)
        title = "learned std" if likelihood == "gaussian" else "likelihood"
        sections.append(Section(f"Whole VAE 12-8-6-3, {likelihood} {title}, beta 0.7", rows,
                                note=kink_note(model, x, eps, rows)))
    return sections + [research_section(rng)] + iwae_sections(rng) + disentangling_sections(rng)


def iwae_sections(rng):
    """The IWAE bound with 4 draws, a learned std and beta 0.7 (tanh: no kinks), for each of
    the encoder's gradient estimators: its gradient against central differences of the
    surrogate it is the exact gradient of (``npvae.models.importance.surrogate``; the bound
    itself for "reparam")."""
    sections = []
    x, eps = rng.random((5, 12)), rng.standard_normal((4, 5, 3))
    for gradient in ESTIMATORS:
        model = vae.VAE(12, (8,), 3, likelihood="gaussian", beta=0.7, dtype=np.float64,
                        random_state=rng, activation="tanh", objective="iwae", k=4,
                        gradient=gradient)
        for name, value in model.named_parameters():  # biases away from 0, a std near 1
            value[...] += (0.03 if name.endswith("log_std") else 0.1) * rng.standard_normal(
                value.shape)
        held = model.params.vector.copy()  # where the gradient is taken
        rows = check_model(model, x, eps, surrogate=lambda: surrogate(model, x, eps, held))
        against = "the bound" if gradient == "reparam" else "its surrogate"
        sections.append(Section(f"IWAE bound, K = 4, VAE 12-8-3, learned std, beta 0.7: the "
                                f"{gradient} gradient against {against}", rows))
    return sections


def research_section(rng):
    """A VAE with a decoder of its own shape (3-10-10-12 against the encoder's 12-5), a learned
    standard deviation per dimension and free bits: tanh, so no kinks but free bits' own, kept
    away by ``floor_between``."""
    model = vae.VAE(12, (5,), 3, likelihood="gaussian", gaussian_std="learned-per-dim",
                    decoder_hidden_dims=(10, 10), dtype=np.float64, random_state=rng,
                    activation="tanh")
    for name, value in model.named_parameters():
        if name.endswith(".b"):
            value[...] = 0.3 * rng.standard_normal(value.shape)
        if name.endswith("log_std"):
            value[...] = 0.03 * rng.standard_normal(value.shape)
    x, eps = rng.random((6, 12)), rng.standard_normal((6, 3))
    model.free_bits = floor_between(model, x)
    return Section(f"Whole VAE 12-5-3, decoder 3-10-10-12, learned std per dimension, free bits "
                   f"{model.free_bits:.2f}", check_model(model, x, eps))


def disentangling_sections(rng):
    """beta-TCVAE (both estimators), LeakyReLU, FactorVAE's discriminator (into z and into its
    own weights) and the whole FactorVAE. Tanh networks: no kinks."""
    sections = [Section("LeakyReLU(0.2)", check_layer(LeakyReLU(0.2), away_from_kink(rng, (3, 5)),
                                                      random_state=rng))]
    x, eps = rng.random((6, 12)), rng.standard_normal((6, 3))
    for estimator in ("mss", "mws"):
        model = TCVAE(12, (8,), 3, alpha=0.5, beta=4.0, gamma=1.5, estimator=estimator,
                      dataset_size=40, dtype=np.float64, random_state=rng, activation="tanh")
        sections.append(Section(f"Whole beta-TCVAE 12-8-3, {estimator.upper()}, alpha 0.5, "
                                "beta 4, gamma 1.5", check_model(model, x, eps)))
    model = FactorVAE(12, (8,), 3, gamma=5.0, discriminator_hidden=(7, 6), dtype=np.float64,
                      random_state=rng, activation="tanh")
    disc = model.discriminator
    z, w = away_from_kink(rng, (6, 3)), rng.standard_normal(6)
    for _ in range(100):  # codes whose LeakyReLU inputs all lie clear of the kink at 0
        shuffled = permute_dims(z, rng)
        if min(smallest_kink_input(disc.net, z), smallest_kink_input(disc.net, shuffled)) > 1e-3:
            break
        z = away_from_kink(rng, (6, 3))
    disc.forward(z)
    dz = disc.backward(w).copy()
    rows = check_function(lambda: np.dot(disc.forward(z), w), {"z": z}, {"z": dz})
    disc.loss_and_grads(z, shuffled)
    grads = {name: disc.params.grads[name].copy() for name in disc.params.names}
    loss = lambda: disc.loss_and_grads(z, shuffled)[0]  # noqa: E731
    rows += [check_array(name, loss, disc.params.values[name], grads[name],
                         floor=resolvable_floor(loss())) for name in disc.params.names]
    sections += [Section("FactorVAE discriminator 3-7-6-1: t(z) into z, its loss into its weights",
                         rows),
                 Section("Whole FactorVAE 12-8-3, gamma 5", check_model(model, x, eps))]
    return sections


KINK_NOTE = ("note: a ReLU input here lies {distance:.1e} from the kink at 0. A step of h = {h:g} "
             "carries it across, and the numerical derivative then averages the slopes 0 and 1 "
             "while the analytic one takes a side: the kink, not a bug. Try another --seed.")


def kink_note(model, x, eps, rows, h=DEFAULT_H):
    """An explanation when failing rows are a ReLU kink: some ReLU input is within h / 10 of 0,
    or within 10 h and the rows pass with a step of h / 10. A wrong gradient fails at any step."""
    failed = [r.name for r in rows if not r.passed]
    distance = smallest_relu_input(model, x, eps)
    if not failed or distance > 10 * h:
        return None
    if distance >= h / 10:
        again = {r.name: r.passed for r in check_model(model, x, eps, h=h / 10)}
        if not all(again[name] for name in failed):
            return None
    return KINK_NOTE.format(distance=distance, h=h)


# ---- deliberately broken variants --------------------------------------------------------------

def _variance_as_std(dz, logvar, eps):
    """WRONG: differentiates z = mu + exp(logvar) * eps, the classic mix-up of the standard
    deviation with the variance, while the forward pass uses exp(logvar / 2)."""
    return dz.copy(), dz * eps * np.exp(logvar)


def _kl_without_half(mu, logvar):
    """WRONG: the KL with dKL/dlogvar lacking its factor 1/2."""
    var = np.exp(logvar)
    kl = -0.5 * (1 + logvar - mu * mu - var).sum(axis=1)
    return kl, mu.copy(), var - 1  # right: (var - 1) / 2


BROKEN = {  # name: (the function replaced, the wrong one, what is wrong)
    "variance-as-std": (vae.reparameterize_backward, _variance_as_std,
                        "backprop through z treats exp(logvar) as the standard deviation"),
    "kl-without-half": (losses.kl_normal, _kl_without_half,
                        "the KL's gradient with respect to logvar lacks its factor 1/2"),
}


@contextlib.contextmanager
def broken(name):
    """Within the block npvae uses the wrong formula ``BROKEN[name]`` everywhere: in every
    module of npvae that holds the right one (the VAE, the batch-coupled models, the checks of
    the pieces)."""
    right, wrong, _ = BROKEN[name]
    places = [(module, attribute) for module_name, module in list(sys.modules.items())
              if module_name.split(".")[0] == "npvae" and module is not None
              for attribute, value in list(vars(module).items()) if value is right]
    for module, attribute in places:
        setattr(module, attribute, wrong)
    try:
        yield
    finally:
        for module, attribute in places:
            setattr(module, attribute, right)


# ---- a user's own layer, and the exercises -----------------------------------------------------

def check_interface(layer):
    """Raise CouldNotCheck naming what is missing if ``layer`` does not follow the interface. A
    layer without parameters may leave out ``params`` and ``grads`` altogether."""
    missing = [name for name in ("forward", "backward") if not callable(getattr(layer, name, None))]
    dicts = not (hasattr(layer, "params") or hasattr(layer, "grads"))  # both left out: fine
    missing += [f"a dict {name}" for name in ("params", "grads")
                if not dicts and not isinstance(getattr(layer, name, None), dict)]
    if missing:
        raise CouldNotCheck(f"{type(layer).__name__} does not follow the layer interface: it "
                            "lacks " + ", ".join(missing))
    if dicts:
        return
    if set(layer.params) != set(layer.grads):
        raise CouldNotCheck(f"{type(layer).__name__}: params and grads must have the same keys; "
                            f"got {sorted(layer.params)} and {sorted(layer.grads)}")
    for key, value in layer.params.items():
        for kind, array in (("params", value), ("grads", layer.grads[key])):
            if not isinstance(array, np.ndarray):
                raise CouldNotCheck(f"{type(layer).__name__}: {kind}[{key!r}] must be a NumPy "
                                    f"array (updated in place); got {type(array).__name__}")
        if np.shape(layer.grads[key]) != np.shape(value):
            raise CouldNotCheck(f"{type(layer).__name__}: grads[{key!r}] must have the shape of "
                                f"params[{key!r}], {np.shape(value)}")
        if np.asarray(value).dtype != np.float64:
            raise CouldNotCheck(f"{type(layer).__name__}: params[{key!r}] must be float64 for a "
                                f"gradient check; got {np.asarray(value).dtype}")


class Guarded:
    """A user's layer whose forward and backward run through ``Student.call``."""

    def __init__(self, student, layer):
        self.student, self.layer = student, layer
        self.params, self.grads = getattr(layer, "params", {}), getattr(layer, "grads", {})

    def forward(self, x):
        return self.student.call("forward", self.layer.forward, x)

    def backward(self, dy):
        return self.student.call("backward", self.layer.backward, dy)


def user_layer_rows(student, n_inputs, n_outputs, random_state=0):
    """Gradient-check rows for the user's layer class (free-form: ``--layer``)."""
    layer = build(student, (n_inputs, n_outputs))
    check_interface(layer)
    rng = np.random.default_rng(random_state)
    return check_layer(Guarded(student, layer), away_from_kink(rng, (4, n_inputs)),
                       random_state=rng)


def report(sections):
    """The text of a report and whether every row passed."""
    lines, all_passed = [], True
    for section in sections:
        lines += ["", f"== {section.title}", format_report(section.rows, section.tol)]
        all_passed &= all(r.passed for r in section.rows)
        if section.note:
            lines.append(section.note)
    n_rows = sum(len(s.rows) for s in sections)
    n_failed = sum(not r.passed for s in sections for r in s.rows)
    lines += ["", f"gradient check: {n_rows - n_failed} of {n_rows} rows passed"
              + ("" if all_passed else f", {n_failed} FAILED")]
    return "\n".join(lines).lstrip("\n"), all_passed
