"""Right answers to every exercise of docs/EXERCISES.md, written as a student would."""

import numpy as np


def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, n):
    return np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))


class MyDense:
    def __init__(self, n_in, n_out):
        rng = np.random.default_rng(1)
        self.params = {"W": 0.1 * rng.standard_normal((n_in, n_out)),
                       "b": rng.standard_normal(n_out)}
        self.grads = {"W": np.zeros((n_in, n_out)), "b": np.zeros(n_out)}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class MyReLU:
    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class MyTanh:  # no params or grads at all: a layer without parameters may leave them out
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y**2)


class MyKL:
    def forward(self, h):
        k = h.shape[1] // 2
        self.mu, self.logvar = h[:, :k], h[:, k:]
        return -0.5 * np.sum(1 + self.logvar - self.mu**2 - np.exp(self.logvar), axis=1,
                             keepdims=True)

    def backward(self, dy):
        return np.hstack([dy * self.mu, dy * (np.exp(self.logvar) - 1) / 2])


class MyReparameterization:
    def __init__(self):
        self.eps = None

    def forward(self, h):
        k = h.shape[1] // 2
        mu, logvar = h[:, :k], h[:, k:]
        if self.eps is None or self.eps.shape != mu.shape:
            self.eps = np.random.default_rng(0).standard_normal(mu.shape)
        self.std = np.exp(logvar / 2)
        return mu + self.std * self.eps

    def backward(self, dz):
        return np.hstack([dz, dz * self.eps * self.std / 2])


class MyBernoulliNLL:
    def __init__(self):
        self.x = None

    def forward(self, logits):
        if self.x is None or self.x.shape != logits.shape:
            self.x = np.random.default_rng(0).random(logits.shape)
        self.logits = logits
        softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
        return np.sum(softplus - self.x * logits, axis=1, keepdims=True)

    def backward(self, dy):
        e = np.exp(-np.abs(self.logits))
        sigmoid = np.where(self.logits >= 0, 1 / (1 + e), e / (1 + e))
        return dy * (sigmoid - self.x)


class MyAdam:
    def __init__(self, params, lr, betas, eps):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = np.zeros_like(params.vector)
        self.v = np.zeros_like(params.vector)
        self.t = 0

    def step(self):
        b1, b2 = self.betas
        g = self.params.grad
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        self.params.vector -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class MyVAE:
    """One hidden layer each side, built from the pieces above."""

    def __init__(self, input_dim, hidden_dim, latent_dim, beta=1.0):
        self.beta, self.k = beta, latent_dim
        self.enc, self.mu_head = MyDense(input_dim, hidden_dim), MyDense(hidden_dim, latent_dim)
        self.logvar_head = MyDense(hidden_dim, latent_dim)
        self.dec, self.out = MyDense(latent_dim, hidden_dim), MyDense(hidden_dim, input_dim)
        self.relu1, self.relu2, self.kl = MyReLU(), MyReLU(), MyKL()
        self.layers = {"encoder.0": self.enc, "mu_head": self.mu_head,
                       "logvar_head": self.logvar_head, "decoder.0": self.dec,
                       "decoder.2": self.out}
        self.params = {f"{n}.{k}": layer.params[k] for n, layer in self.layers.items()
                       for k in ("W", "b")}
        self.grads = {}

    def forward(self, x, eps):
        self.x, self.eps, self.n = x, eps, len(x)
        h = self.relu1.forward(self.enc.forward(x))
        self.mu, self.logvar_raw = self.mu_head.forward(h), self.logvar_head.forward(h)
        self.logvar = np.minimum(self.logvar_raw, 30.0)  # the cap of npvae/reference.py
        self.std = np.exp(self.logvar / 2)
        z = self.mu + self.std * eps
        self.logits = self.out.forward(self.relu2.forward(self.dec.forward(z)))
        logits = self.logits
        rec = np.sum(np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits))) - x * logits, axis=1)
        kl = self.kl.forward(np.hstack([self.mu, self.logvar]))[:, 0]
        return np.mean(rec + self.beta * kl)

    def backward(self):
        n, logits = self.n, self.logits
        dl = (1 / (1 + np.exp(-logits)) - self.x) / n
        dz = self.dec.backward(self.relu2.backward(self.out.backward(dl)))
        dkl = self.kl.backward(np.full((n, 1), self.beta / n))
        dmu = dz + dkl[:, :self.k]
        dlogvar = (dz * self.eps * self.std / 2 + dkl[:, self.k:]) * (self.logvar_raw < 30.0)
        dh = self.mu_head.backward(dmu) + self.logvar_head.backward(dlogvar)
        self.enc.backward(self.relu1.backward(dh))
        self.grads = {f"{n}.{k}": layer.grads[k] for n, layer in self.layers.items()
                      for k in ("W", "b")}


class MyIWAE:
    """Exercise 9: the bound of the linear Gaussian model with K draws, and its gradient."""

    def __init__(self, K, L):
        self.K = K
        self.params = {"W": np.random.default_rng(0).standard_normal((L, L))}
        self.grads = {"W": np.zeros((L, L))}

    def forward(self, h):
        n, L = len(h), h.shape[1] // 2
        self.mu, self.logvar = h[:, :L], h[:, L:]
        self.x = np.random.default_rng(1).standard_normal((n, L))
        self.eps = np.random.default_rng(0).standard_normal((self.K, n, L))
        self.std = np.exp(self.logvar / 2)
        self.z = self.mu + self.std * self.eps  # (K, N, L)
        self.r = self.x - self.z @ self.params["W"]
        log_w = (-0.5 * np.sum(self.r**2, axis=2) - 0.5 * np.sum(self.z**2, axis=2)
                 + 0.5 * np.sum(self.eps**2 + self.logvar, axis=2) - L / 2 * np.log(2 * np.pi))
        top = log_w.max(axis=0)
        w = np.exp(log_w - top)
        self.wt = w / w.sum(axis=0)  # (K, N)
        return (top + np.log(w.mean(axis=0)))[:, None]

    def path(self):
        """d log w_k / dz along the draw, and the weights each estimator puts on it."""
        return self.r @ self.params["W"].T - self.z, self.wt[..., None]

    def backward(self, dy):
        g, wt = self.path()
        dmu = np.sum(wt * g, axis=0)
        dlogvar = np.sum(wt * (g * self.eps * self.std / 2 + 0.5), axis=0)
        self.write_dW(dy)
        return np.hstack([dy * dmu, dy * dlogvar])

    def write_dW(self, dy):
        self.grads["W"] = np.einsum("kn,kni,knj->ij", self.wt * dy[:, 0], self.z, self.r)


class MySTL(MyIWAE):
    """Exercise 10: sticking the landing."""
    squared = False

    def backward(self, dy):
        g, wt = self.path()
        s = g + self.eps / self.std  # log q's slope in z stays; its score is dropped
        weight = wt**2 if self.squared else wt
        dmu = np.sum(weight * s, axis=0)
        dlogvar = np.sum(weight * s * self.eps * self.std / 2, axis=0)
        self.write_dW(dy)
        return np.hstack([dy * dmu, dy * dlogvar])


class MyDReG(MySTL):
    """Exercise 10: DReG, the squared weights."""
    squared = True
