"""The whole VAE and Adam in plain NumPy: read this file first.

This is the specification. Pure functions, fresh arrays, no threads, no speed tricks: each line
computes one equation, and the backward pass runs the chain rule line by line beside it. The
library (``npvae.VAE``, ``npvae.Adam``, ``npvae.fit``) is the same maths made fast, and the tests
hold it to this file number by number (float64: the loss and every gradient to 1e-10, Adam's
steps to 1e-12). ``npvae train --engine reference`` trains with these functions.

The model (Kingma & Welling 2014), for data x in [0, 1]^D and K latent dimensions:

    encoder      h = relu(... relu(x W + b) ...)                      (N, H)
                 mu = h W_mu + b_mu,  logvar = h W_logvar + b_logvar  (N, K)
    reparam.     z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)       (N, K)
    decoder      logits = relu(... relu(z V + c) ...) V_out + c_out   (N, D)
    loss         mean over the batch of  rec + beta * kl, where
                 rec = sum_d softplus(logits_d) - x_d * logits_d      -log p(x | z), Bernoulli
                 kl  = 1/2 sum_k (mu_k^2 + exp(logvar_k) - 1 - logvar_k)   closed form, appendix B

With beta = 1 the loss is the negative evidence lower bound (ELBO). The noise ``eps`` is an
argument: with it fixed, the loss is a plain deterministic function of the parameters, which is
what makes a gradient check possible.

Parameters live in a dict keyed by the names ``npvae.VAE.named_parameters()`` yields: for
``hidden_dims=(400, 400)`` they are "encoder.0.W", "encoder.0.b", "encoder.2.W", "encoder.2.b",
"mu_head.W", "mu_head.b", "logvar_head.W", "logvar_head.b", "decoder.0.W", "decoder.0.b",
"decoder.2.W", "decoder.2.b", "decoder.4.W", "decoder.4.b" (the number is the layer's position
in ``npvae.nn.layers.Sequential``, where each dense layer is followed by its activation: dense
layers sit at 0, 2, 4, ...).

Shape letters: N batch, D data, H hidden, K latent.
"""

import numpy as np

from .utils.validation import check_random_state

# The log-variance is capped here before use, as in the library: exp(30) ~ 1e13 is far beyond any
# healthy posterior variance and far below overflow, so exp(logvar) stays finite whatever the
# encoder outputs. Above the cap the gradient is 0, as for any clip.
LOGVAR_MAX = 30.0


# ---- the pieces ---------------------------------------------------------------------------------

def dense(x, W, b):
    """``y = x W + b``.  Shapes: x (N, I), W (I, O), b (O,) -> y (N, O)."""
    return x @ W + b


def dense_backward(dy, x, W):
    """Gradients of ``y = x W + b`` from dy = dL/dy (N, O):
        dx = dy W^T   (N, I)     dW = x^T dy   (I, O)     db = sum_n dy[n]   (O,)
    """
    return dy @ W.T, x.T @ dy, dy.sum(axis=0)


def relu(a):
    """``max(a, 0)``, elementwise."""
    return np.maximum(a, 0)


def relu_backward(dy, a):
    """``dL/da = dy * [a > 0]``: the slope is 1 where a > 0 and 0 elsewhere (0 at the kink)."""
    return dy * (a > 0)


def softplus(a):
    """``log(1 + exp(a))``, computed as ``log(exp(0) + exp(a))`` by ``np.logaddexp``, which never
    overflows: softplus(1000) = 1000, softplus(-1000) = 0 (about 1e-434)."""
    return np.logaddexp(0, a)


def sigmoid(a):
    """``1 / (1 + exp(-a)) = exp(-softplus(-a))``, with no overflow at any a."""
    return np.exp(-softplus(-a))


def layer_names(params, network):
    """The dense layers of "encoder" or "decoder" in forward order: ["encoder.0", "encoder.2"]."""
    count = sum(1 for name in params if name.startswith(network + ".") and name.endswith(".W"))
    return [f"{network}.{2 * i}" for i in range(count)]


# ---- the model --------------------------------------------------------------------------------

def init_params(input_dim, hidden_dims=(400, 400), latent_dim=20, random_state=None,
                dtype=np.float64):
    """A dict of parameters: every W ~ N(0, 2 / fan_in) (He et al. 2015), every b = 0.

    The same numbers as ``npvae.VAE(input_dim, hidden_dims, latent_dim, random_state=seed,
    dtype=dtype)`` draws for the same seed: the layers are drawn in the same order (encoder,
    mu head, logvar head, decoder).
    Shapes: "encoder.0.W" (D, H1), ..., "mu_head.W" (H, K), ..., the last decoder W (H1, D).
    """
    rng = check_random_state(random_state)
    D, H, K = input_dim, tuple(hidden_dims), latent_dim
    top = H[-1] if H else D  # what the heads read
    layers = [(f"encoder.{2 * i}", n_in, n_out) for i, (n_in, n_out) in enumerate(zip((D,) + H, H))]
    layers += [("mu_head", top, K), ("logvar_head", top, K)]
    decoder_sizes = (K,) + H[::-1] + (D,)
    layers += [(f"decoder.{2 * i}", n_in, n_out)
               for i, (n_in, n_out) in enumerate(zip(decoder_sizes[:-1], decoder_sizes[1:]))]
    params = {}
    for name, n_in, n_out in layers:
        W = np.sqrt(2.0 / n_in) * rng.standard_normal((n_in, n_out))
        params[name + ".W"] = W.astype(dtype)
        params[name + ".b"] = np.zeros(n_out, dtype=dtype)
    return params


def encode(params, x, cache):
    """The encoder: x (N, D) -> mu, logvar (N, K), capped at ``LOGVAR_MAX``. Writes into ``cache``
    each dense layer's input and output, "h" (N, H) the heads' input, "mu", "logvar_raw" (the
    logvar head's output), "logvar" and "std"."""
    h = x
    for name in layer_names(params, "encoder"):
        cache[name + ".in"] = h
        cache[name + ".out"] = a = dense(h, params[name + ".W"], params[name + ".b"])  # (N, H)
        h = relu(a)
    cache["h"] = h
    cache["mu"] = mu = dense(h, params["mu_head.W"], params["mu_head.b"])  # (N, K)
    cache["logvar_raw"] = dense(h, params["logvar_head.W"], params["logvar_head.b"])
    cache["logvar"] = logvar = np.minimum(cache["logvar_raw"], LOGVAR_MAX)
    cache["std"] = np.exp(logvar / 2)  # the standard deviation: exp(logvar) is the variance
    return mu, logvar


def decode(params, z, cache):
    """The decoder: z (N, K) -> logits (N, D). Writes each dense layer's input and output into
    ``cache``."""
    g = z
    decoder = layer_names(params, "decoder")
    for name in decoder:
        cache[name + ".in"] = g
        cache[name + ".out"] = a = dense(g, params[name + ".W"], params[name + ".b"])
        g = relu(a) if name != decoder[-1] else a  # no activation after the last layer
    return g


def forward(params, x, eps):
    """The forward pass. Returns the cache: a dict of every named value backward needs.

    Shapes: x (N, D), eps (N, K) -> cache with what ``encode`` and ``decode`` write, "z"
    (N, K), "logits" (N, D), "rec" and "kl" (N,).
    """
    cache = {"x": x, "eps": eps}
    mu, logvar = encode(params, x, cache)  # (N, K) each
    cache["z"] = z = mu + cache["std"] * eps  # the reparameterization
    cache["logits"] = logits = decode(params, z, cache)  # (N, D)
    cache["rec"] = np.sum(softplus(logits) - x * logits, axis=1)  # -log p(x | z), (N,)
    cache["kl"] = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar, axis=1)  # (N,)
    return cache


def decoder_backward(params, cache, dlogits, grads):
    """Back through the decoder: dlogits (N, D) -> dz (N, K); writes the decoder's gradients
    into ``grads``."""
    dg = dlogits
    decoder = layer_names(params, "decoder")
    for name in reversed(decoder):
        if name != decoder[-1]:
            dg = relu_backward(dg, cache[name + ".out"])
        dg, grads[name + ".W"], grads[name + ".b"] = dense_backward(dg, cache[name + ".in"],
                                                                    params[name + ".W"])
    return dg


def encoder_backward(params, cache, dmu, dlogvar, grads):
    """Back from mu and logvar (N, K) through the heads and the encoder; writes their gradients
    into ``grads``. No gradient passes the cap on logvar."""
    dlogvar = dlogvar * (cache["logvar_raw"] < LOGVAR_MAX)
    dh_mu, grads["mu_head.W"], grads["mu_head.b"] = dense_backward(dmu, cache["h"],
                                                                   params["mu_head.W"])
    dh_logvar, grads["logvar_head.W"], grads["logvar_head.b"] = dense_backward(
        dlogvar, cache["h"], params["logvar_head.W"])
    dh = dh_mu + dh_logvar  # h feeds both heads: their gradients add up (N, H)
    for name in reversed(layer_names(params, "encoder")):
        dh = relu_backward(dh, cache[name + ".out"])
        dh, grads[name + ".W"], grads[name + ".b"] = dense_backward(dh, cache[name + ".in"],
                                                                    params[name + ".W"])


def backward(params, cache, beta=1.0):
    """The gradient of ``loss = mean_n (rec_n + beta * kl_n)`` for every parameter: a dict of
    the same names and shapes as ``params``. ``cache``: what ``forward`` returned."""
    x, eps, n = cache["x"], cache["eps"], len(cache["x"])
    grads = {}
    # reconstruction: d rec_n / d logits = sigmoid(logits) - x, and 1/N from the batch mean
    dz = decoder_backward(params, cache, (sigmoid(cache["logits"]) - x) / n, grads)  # (N, K)
    # dz holds the 1/N already, from dlogits; the KL's own terms below need theirs.
    # Two paths into mu and logvar: through z = mu + std * eps, and the KL's own gradient
    #   d kl / d mu = mu,    d kl / d logvar = (exp(logvar) - 1) / 2,    d std / d logvar = std / 2
    dmu = dz + beta * cache["mu"] / n
    dlogvar = dz * eps * cache["std"] / 2 + beta * (np.exp(cache["logvar"]) - 1) / 2 / n
    encoder_backward(params, cache, dmu, dlogvar, grads)
    return {name: grads[name] for name in params}  # in the order of params


def loss_and_grads(params, x, eps, beta=1.0):
    """The batch-mean loss ``mean_n (rec_n + beta * kl_n)`` in nats and its gradients.

    Shapes: x (N, D) in [0, 1], eps (N, K) -> (a float, a dict name -> array of that parameter's
    shape).
    """
    cache = forward(params, x, eps)
    loss = float(np.mean(cache["rec"] + beta * cache["kl"]))
    return loss, backward(params, cache, beta)


# ---- the optimizer ----------------------------------------------------------------------------

def adam_step(params, grads, state=None, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One step of Adam (Kingma & Ba 2015). Returns (new params, new state); nothing is changed.

    ``state``: None (or {}) before the first step, then what the previous call returned:
    {"t": steps taken, "m": dict of first moments, "v": dict of second moments}.
    For each parameter theta with gradient g, at step t = 1, 2, ...:
        m = beta1 * m + (1 - beta1) * g            moving average of g, from m = 0
        v = beta2 * v + (1 - beta2) * g^2          moving average of g^2, from v = 0
        m_hat = m / (1 - beta1^t)                  bias corrections: E[m] = (1 - beta1^t) E[g]
        v_hat = v / (1 - beta2^t)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)
    """
    if not state:
        state = {"t": 0, "m": {name: np.zeros_like(p) for name, p in params.items()},
                 "v": {name: np.zeros_like(p) for name, p in params.items()}}
    beta1, beta2 = betas
    t = state["t"] + 1
    new_params, m, v = {}, {}, {}
    for name, theta in params.items():
        g = grads[name]
        m[name] = beta1 * state["m"][name] + (1 - beta1) * g
        v[name] = beta2 * state["v"][name] + (1 - beta2) * g * g
        m_hat = m[name] / (1 - beta1**t)
        v_hat = v[name] / (1 - beta2**t)
        new_params[name] = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return new_params, {"t": t, "m": m, "v": v}
