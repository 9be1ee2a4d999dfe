"""Wrong answers of a second kind, each with one mistake that a single call cannot show: state
kept from an earlier call, a result that is a buffer the next call overwrites, a size written
into the code, a formula that fails at extreme inputs, an argument ignored."""

import numpy as np

from right import (
    MyAdam,
    MyBernoulliNLL,
    MyDense,
    MyKL,
    MyReLU,
    MyReparameterization,
    MyVAE,
    rel_error,
)

_BUF = {}


def ng_buffer(f, x, h=1e-5):
    g = _BUF.setdefault(x.shape, np.zeros(x.shape))
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        p = f()
        x[i] = old - h
        m = f()
        x[i] = old
        g[i] = (p - m) / (2 * h)
    return g


def ng_ignores_h(f, x, h=1e-5):
    h = 1e-5
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        p = f()
        x[i] = old - h
        m = f()
        x[i] = old
        g[i] = (p - m) / (2 * h)
    return g


def ng_relative(f, x, h=1e-5):
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        s = h * abs(old)
        x[i] = old + s
        p = f()
        x[i] = old - s
        m = f()
        x[i] = old
        g[i] = (p - m) / (2 * s)
    return g


def ng_reshape(f, x, h=1e-5):
    flat = x.reshape(-1)
    g = np.zeros(flat.shape)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        p = f()
        flat[i] = old - h
        m = f()
        flat[i] = old
        g[i] = (p - m) / (2 * h)
    return g.reshape(x.shape)


def ng_arith(f, x, h=1e-5):
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        p = f()
        x[i] -= 2 * h
        m = f()
        x[i] += h
        g[i] = (p - m) / (2 * h)
    return g


def ng_bigh(f, x, h=1e-2):
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        p = f()
        x[i] = old - h
        m = f()
        x[i] = old
        g[i] = (p - m) / (2 * h)
    return g


class DenseCacheOnce(MyDense):
    def forward(self, x):
        if not hasattr(self, "x"):
            self.x = x
        return x @ self.params["W"] + self.params["b"]


class ReLUMaskOnce(MyReLU):
    def forward(self, x):
        if not hasattr(self, "mask"):
            self.mask = x > 0
        return x * (x > 0)


class TanhCacheOnce:
    def forward(self, x):
        y = np.tanh(x)
        if not hasattr(self, "y"):
            self.y = y
        return y

    def backward(self, dy):
        return dy * (1 - self.y**2)


class KLCacheOnce(MyKL):
    def forward(self, h):
        k = h.shape[1] // 2
        if not hasattr(self, "mu"):
            self.mu, self.logvar = h[:, :k], h[:, k:]
        mu, logvar = h[:, :k], h[:, k:]
        return -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1, keepdims=True)


class ReparamSliced(MyReparameterization):
    def forward(self, h):
        k = h.shape[1] // 2
        mu, logvar = h[:, :k], h[:, k:]
        if self.eps is None:
            self.base = np.random.default_rng(0).standard_normal(mu.shape)
        self.eps = self.base[: mu.shape[0], : mu.shape[1]]
        self.std = np.exp(logvar / 2)
        return mu + self.std * self.eps


class ReparamOneRow(MyReparameterization):
    def forward(self, h):
        k = h.shape[1] // 2
        mu, logvar = h[:, :k], h[:, k:]
        self.eps = np.random.default_rng(0).standard_normal((1, k))
        self.std = np.exp(logvar / 2)
        return mu + self.std * self.eps


class ReparamSeed1(MyReparameterization):
    def forward(self, h):
        k = h.shape[1] // 2
        mu, logvar = h[:, :k], h[:, k:]
        if self.eps is None or self.eps.shape != mu.shape:
            self.eps = np.random.default_rng(1).standard_normal(mu.shape)
        self.std = np.exp(logvar / 2)
        return mu + self.std * self.eps


class ReparamClip(MyReparameterization):
    def forward(self, h):
        k = h.shape[1] // 2
        h = np.hstack([h[:, :k], np.clip(h[:, k:], -4, 4)])
        return super().forward(h)


class BernoulliTargetsOnce(MyBernoulliNLL):
    def forward(self, logits):
        if self.x is None:
            self.x = np.random.default_rng(0).random(logits.shape)
        self.logits = logits
        softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
        return np.sum(
            softplus - self.x[: logits.shape[0], : logits.shape[1]] * logits, axis=1, keepdims=True
        )

    def backward(self, dy):
        e = np.exp(-np.abs(self.logits))
        s = np.where(self.logits >= 0, 1 / (1 + e), e / (1 + e))
        return dy * (s - self.x[: self.logits.shape[0], : self.logits.shape[1]])


class BernoulliInit(MyBernoulliNLL):
    def __init__(self):
        self.x = np.random.default_rng(0).random((7, 5))

    def forward(self, logits):
        self.logits = logits
        softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
        return np.sum(softplus - self.x * logits, axis=1, keepdims=True)


class BernoulliLogSigmoid(MyBernoulliNLL):
    def forward(self, logits):
        if self.x is None or self.x.shape != logits.shape:
            self.x = np.random.default_rng(0).random(logits.shape)
        self.logits = logits
        p = 1 / (1 + np.exp(-logits))
        return -np.sum(self.x * np.log(p) + (1 - self.x) * np.log(1 - p), axis=1, keepdims=True)


class DenseBuffer(MyDense):
    def forward(self, x):
        self.x = x
        if not hasattr(self, "out") or self.out.shape != (len(x), self.params["W"].shape[1]):
            self.out = np.empty((len(x), self.params["W"].shape[1]))
        np.matmul(x, self.params["W"], out=self.out)
        self.out += self.params["b"]
        return self.out


class ReLUBufferGrad(MyReLU):
    def backward(self, dy):
        if not hasattr(self, "dx") or self.dx.shape != dy.shape:
            self.dx = np.zeros(dy.shape)
        np.multiply(dy, self.mask, out=self.dx)
        return self.dx


class DenseHardN(MyDense):
    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        self.grads["b"] = np.ones(7) @ dy
        return dy @ self.params["W"].T


class DenseOwnW(MyDense):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.started = False

    def forward(self, x):
        if not self.started:
            self.W, self.b = self.params["W"].copy(), self.params["b"].copy()
            self.started = True
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.grads["W"] = self.x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.W.T


class KLClip(MyKL):
    def forward(self, h):
        k = h.shape[1] // 2
        h = np.hstack([h[:, :k], np.clip(h[:, k:], -4, 4)])
        return super().forward(h)


class TanhExp:
    def forward(self, x):
        e = np.exp(2 * x)
        self.y = (e - 1) / (e + 1)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y**2)


class TanhPlusEq:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        if not hasattr(self, "dx"):
            self.dx = np.zeros_like(dy)
        self.dx += dy * (1 - self.y**2)
        return self.dx


class DenseChangesParams(MyDense):  # takes a step of its own in backward
    def backward(self, dy):
        dx = super().backward(dy)
        self.params["W"] -= 1e-3 * self.grads["W"]
        return dx


class AdamPrivate(MyAdam):
    def __init__(self, params, lr, betas, eps):
        super().__init__(params, lr, betas, eps)
        self.theta = params.vector.copy()

    def step(self):
        b1, b2 = self.betas
        g = self.params.grad
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        self.theta -= (
            self.lr * (self.m / (1 - b1**self.t)) / (np.sqrt(self.v / (1 - b2**self.t)) + self.eps)
        )
        self.params.vector[...] = self.theta


class AdamFixedEps(MyAdam):
    def __init__(self, params, lr, betas, eps):
        super().__init__(params, lr, betas, 1e-8)


class AdamIgnoresLr(MyAdam):
    def __init__(self, params, lr, betas, eps):
        super().__init__(params, 1e-3, betas, eps)


class AdamDouble(MyAdam):
    def step(self):
        super().step()
        b1, b2 = self.betas
        self.params.vector -= (
            self.lr * (self.m / (1 - b1**self.t)) / (np.sqrt(self.v / (1 - b2**self.t)) + self.eps)
        )


class AdamSwapped(MyAdam):
    def __init__(self, params, lr, betas, eps):
        super().__init__(params, lr, betas[::-1], eps)


class AdamStuck(MyAdam):
    def step(self):
        super().step()
        self.t = 0


class AdamShared:
    state = {}

    def __init__(self, params, lr, betas, eps):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps

    def step(self):
        s = AdamShared.state
        b1, b2 = self.betas
        g = self.params.grad
        s["t"] = s.get("t", 0) + 1
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        self.params.vector -= (
            self.lr
            * (s["m"] / (1 - b1 ** s["t"]))
            / (np.sqrt(s["v"] / (1 - b2 ** s["t"])) + self.eps)
        )


class AdamF32(MyAdam):
    def __init__(self, params, lr, betas, eps):
        super().__init__(params, lr, betas, eps)
        self.m = np.zeros(params.vector.shape, np.float32)
        self.v = np.zeros(params.vector.shape, np.float32)

    def step(self):
        b1, b2 = self.betas
        g = self.params.grad.astype(np.float32)
        self.t += 1
        self.m = (b1 * self.m + (1 - b1) * g).astype(np.float32)
        self.v = (b2 * self.v + (1 - b2) * g * g).astype(np.float32)
        self.params.vector -= (
            self.lr * (self.m / (1 - b1**self.t)) / (np.sqrt(self.v / (1 - b2**self.t)) + self.eps)
        )


class VAENoCap(MyVAE):
    def forward(self, x, eps):
        self.x, self.eps, self.n = x, eps, len(x)
        h = self.relu1.forward(self.enc.forward(x))
        self.mu, self.logvar_raw = self.mu_head.forward(h), self.logvar_head.forward(h)
        self.logvar = self.logvar_raw
        self.std = np.exp(self.logvar / 2)
        z = self.mu + self.std * eps
        self.logits = self.out.forward(self.relu2.forward(self.dec.forward(z)))
        logits = self.logits
        rec = np.sum(np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits))) - x * logits, axis=1)
        kl = self.kl.forward(np.hstack([self.mu, self.logvar]))[:, 0]
        return np.mean(rec + self.beta * kl)


class VAELeaksThroughCap(MyVAE):  # caps logvar in forward, forgets the cap's mask in backward
    def backward(self):
        self.logvar_raw = np.zeros_like(self.logvar_raw)  # every entry "below the cap"
        super().backward()

class VAEClip(MyVAE):
    def forward(self, x, eps):
        self.x, self.eps, self.n = x, eps, len(x)
        h = self.relu1.forward(self.enc.forward(x))
        self.mu, self.logvar_raw = self.mu_head.forward(h), self.logvar_head.forward(h)
        self.logvar = np.clip(self.logvar_raw, -4, 4)
        self.std = np.exp(self.logvar / 2)
        z = self.mu + self.std * eps
        self.logits = self.out.forward(self.relu2.forward(self.dec.forward(z)))
        logits = self.logits
        rec = np.sum(np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits))) - x * logits, axis=1)
        kl = self.kl.forward(np.hstack([self.mu, self.logvar]))[:, 0]
        return np.mean(rec + self.beta * kl)


class VAELossBuffer(MyVAE):
    def forward(self, x, eps):
        v = super().forward(x, eps)
        if not hasattr(self, "buf"):
            self.buf = np.zeros(())
        self.buf[...] = v
        return self.buf


class VAEHardN(MyVAE):
    def backward(self):
        self.n = 7
        super().backward()


class VAECacheOnce(MyVAE):  # keeps the first batch's x and eps for every backward
    def forward(self, x, eps):
        if not hasattr(self, "x0"):
            self.x0, self.e0 = x, eps
        return super().forward(x, eps)

    def backward(self):
        self.x, self.eps = self.x0, self.e0
        super().backward()


class VAEBetaRec(MyVAE):
    def forward(self, x, eps):
        b = self.beta
        self.beta = 1.0
        v = super().forward(x, eps)
        self.beta = b
        kl = self.kl.forward(np.hstack([self.mu, self.logvar]))[:, 0]
        rec = v - kl.mean()
        return b * rec + kl.mean()


class VAEInplace(MyVAE):
    def backward(self):
        super().backward()
        self.std *= 1.5


__all__ = ["rel_error"]


class ReparamNoiseKeyedOnRows(MyReparameterization):  # new noise when N changes, not when K does
    def forward(self, h):
        k = h.shape[1] // 2
        if self.eps is None or len(self.eps) != len(h):
            self.eps = np.random.default_rng(0).standard_normal((len(h), k))
        self.std = np.exp(h[:, k:] / 2)
        return h[:, :k] + self.std * self.eps


class ReparamStdOfFirstBatch(MyReparameterization):  # std kept from the first batch of a shape
    def forward(self, h):
        z = super().forward(h)
        if not hasattr(self, "first_std") or self.first_std.shape != self.std.shape:
            self.first_std = self.std
        self.std = self.first_std
        return z


class VAEFirstNoise(MyVAE):  # the first batch's eps reused for every batch of that size
    def forward(self, x, eps):
        if not hasattr(self, "eps0") or self.eps0.shape != eps.shape:
            self.eps0 = eps
        return super().forward(x, self.eps0)


class VAEClipsBelowToo(MyVAE):  # logvar clipped from below as well as from above
    def forward(self, x, eps):
        super().forward(x, eps)
        self.logvar_raw = np.clip(self.logvar_raw, -30.0, None)
        self.logvar = np.clip(self.logvar, -30.0, 30.0)
        self.std = np.exp(self.logvar / 2)
        return self._loss_again(x, eps)

    def _loss_again(self, x, eps):
        z = self.mu + self.std * eps
        logits = self.logits = self.out.forward(self.relu2.forward(self.dec.forward(z)))
        rec = np.sum(np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits))) - x * logits,
                     axis=1)
        kl = self.kl.forward(np.hstack([self.mu, self.logvar]))[:, 0]
        return np.mean(rec + self.beta * kl)


class VAEClipsTargets(MyVAE):  # x clipped "to avoid log(0)": wrong on binary pixels
    def forward(self, x, eps):
        return super().forward(np.clip(x, 1e-7, 1 - 1e-7), eps)


class AdamSkipsZeros(MyAdam):  # "sparse" Adam: entries with a zero gradient neither decay nor move
    def step(self):
        b1, b2 = self.betas
        g, seen = self.params.grad, self.params.grad != 0
        self.t += 1
        self.m[seen] = b1 * self.m[seen] + (1 - b1) * g[seen]
        self.v[seen] = b2 * self.v[seen] + (1 - b2) * g[seen] ** 2
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        self.params.vector[seen] -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps))[seen]
