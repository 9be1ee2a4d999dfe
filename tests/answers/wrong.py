"""Wrong answers to the exercises, each with one classic mistake (most from the right ones)."""

import numpy as np

from right import (MyAdam, MyBernoulliNLL, MyDense, MyIWAE, MyKL, MyReLU, MyReparameterization,
                   MySTL, MyTanh, MyVAE, numerical_gradient, rel_error)


def forward_difference(f, x, h=1e-5):  # one-sided: error of order h
    grad = np.zeros_like(x)
    base = f()
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        grad[i] = (f() - base) / h
        x[i] = old
    return grad


def not_restored(f, x, h=1e-5):
    grad = numerical_gradient(f, x, h)
    x += h  # leaves x moved
    return grad


class DenseAccumulates(MyDense):
    def backward(self, dy):
        self.grads["W"] += self.x.T @ dy  # += where the interface says overwrite
        self.grads["b"] += dy.sum(axis=0)
        return dy @ self.params["W"].T


class DenseForgetsReturn(MyDense):
    def backward(self, dy):
        super().backward(dy)  # no return dx


class DenseBiasWrongAxis(MyDense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = dy.sum(axis=1)
        return dx


class DenseOwnCopy(MyDense):  # computes with a copy of W, not with self.params["W"]
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out)
        self.W = self.params["W"].copy()

    def forward(self, x):
        self.x = x
        return x @ self.W + self.params["b"]


class DenseNoBias(MyDense):
    def forward(self, x):
        self.x = x
        return x @ self.params["W"]

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = np.zeros_like(self.params["b"])
        return dx


class ReLUChangesDy(MyReLU):
    def backward(self, dy):
        dy[~self.mask] = 0
        return dy


class ReLUInPlace(MyReLU):
    def forward(self, x):
        self.mask = x > 0
        x[~self.mask] = 0
        return x


class ReLUNoMask(MyReLU):
    def backward(self, dy):
        return dy.copy()


class TanhWithInput(MyTanh):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, dy):
        return dy * (1 - self.x**2)


class KLWithoutOne(MyKL):
    def forward(self, h):
        return super().forward(h) + 0.5 * h.shape[1] // 2  # drops the constant 1


class KLDroppingOne(MyKL):
    def forward(self, h):
        k = h.shape[1] // 2
        self.mu, self.logvar = h[:, :k], h[:, k:]
        return -0.5 * np.sum(self.logvar - self.mu**2 - np.exp(self.logvar), axis=1,
                             keepdims=True)


class KLSquaredVariance(MyKL):
    def forward(self, h):
        k = h.shape[1] // 2
        self.mu, self.logvar = h[:, :k], h[:, k:]
        return -0.5 * np.sum(1 + self.logvar - self.mu**2 - np.exp(2 * self.logvar), axis=1,
                             keepdims=True)

    def backward(self, dy):
        return np.hstack([dy * self.mu, dy * (2 * np.exp(2 * self.logvar) - 1) / 2])


class KLWithoutHalf(MyKL):
    def backward(self, dy):
        return np.hstack([dy * self.mu, dy * (np.exp(self.logvar) - 1)])


class KLRowsFlat(MyKL):
    def forward(self, h):
        return super().forward(h)[:, 0]

    def backward(self, dy):
        return super().backward(dy[:, None])


class ReparamVarianceAsStd(MyReparameterization):
    def forward(self, h):
        k = h.shape[1] // 2
        mu, logvar = h[:, :k], h[:, k:]
        if self.eps is None or self.eps.shape != mu.shape:
            self.eps = np.random.default_rng(0).standard_normal(mu.shape)
        self.std = np.exp(logvar)
        return mu + self.std * self.eps

    def backward(self, dz):
        return np.hstack([dz, dz * self.eps * self.std])


class ReparamFreshNoise(MyReparameterization):
    def forward(self, h):
        self.eps = None  # draws anew every call
        self.eps = np.random.default_rng().standard_normal((len(h), h.shape[1] // 2))
        return super().forward(h)


class ReparamWithoutHalf(MyReparameterization):
    def backward(self, dz):
        return np.hstack([dz, dz * self.eps * self.std])


class BernoulliNaive(MyBernoulliNLL):
    def forward(self, logits):
        if self.x is None or self.x.shape != logits.shape:
            self.x = np.random.default_rng(0).random(logits.shape)
        self.logits = logits
        with np.errstate(over="ignore"):
            return np.sum(np.log(1 + np.exp(logits)) - self.x * logits, axis=1, keepdims=True)


class BernoulliFromProbabilities(MyBernoulliNLL):
    def forward(self, logits):
        if self.x is None or self.x.shape != logits.shape:
            self.x = np.random.default_rng(0).random(logits.shape)
        self.logits = logits
        p = 1 / (1 + np.exp(-logits))
        x = self.x
        return -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1, keepdims=True)


class BernoulliWrongSign(MyBernoulliNLL):
    def backward(self, dy):
        return -super().backward(dy)


class AdamRebinds(MyAdam):
    def step(self):
        b1, b2 = self.betas
        g = self.params.grad
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        self.params.vector = self.params.vector - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamRebindsViews(MyAdam):  # replaces each named view instead of updating it
    def step(self):
        b1, b2 = self.betas
        g = self.params.grad
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        step = self.lr * (self.m / (1 - b1**self.t)) / (np.sqrt(self.v / (1 - b2**self.t))
                                                          + self.eps)
        start = 0
        for name in self.params.names:
            value = self.params.values[name]
            piece = step[start:start + value.size].reshape(value.shape)
            self.params.values[name] = value - piece
            start += value.size


class AdamNoBiasCorrection(MyAdam):
    def step(self):
        b1, b2 = self.betas
        g = self.params.grad
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        self.params.vector -= self.lr * self.m / (np.sqrt(self.v) + self.eps)


class AdamEpsInsideSqrt(MyAdam):
    def step(self):
        b1, b2 = self.betas
        g = self.params.grad
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        self.params.vector -= self.lr * m_hat / np.sqrt(v_hat + self.eps)


class VAESum(MyVAE):
    def forward(self, x, eps):
        return len(x) * super().forward(x, eps)

    def backward(self):
        self.n = 1  # the gradient of the sum
        super().backward()


class VAEBetaOnlyInValue(MyVAE):
    def backward(self):
        beta, self.beta = self.beta, 1.0
        super().backward()
        self.beta = beta


class VAENoReparamPathIntoLogvar(MyVAE):
    def backward(self):
        self.eps = np.zeros_like(self.eps)  # drops dz * eps * std / 2
        super().backward()


class VAENoKLPath(MyVAE):  # the KL in the loss, but not its gradient into mu and logvar
    def backward(self):
        beta, self.beta = self.beta, 0.0
        super().backward()
        self.beta = beta


class VAENoFanIn(MyVAE):
    def backward(self):
        super().backward()
        n, logits = self.n, self.logits
        dl = (1 / (1 + np.exp(-logits)) - self.x) / n
        dz = self.dec.backward(self.relu2.backward(self.out.backward(dl)))
        dmu = dz + self.kl.backward(np.full((n, 1), self.beta / n))[:, :self.k]
        self.enc.backward(self.relu1.backward(self.mu_head.backward(dmu)))  # logvar's path lost
        self.grads = {f"{n}.{k}": layer.grads[k] for n, layer in self.layers.items()
                      for k in ("W", "b")}


class IWAENoShift(MyIWAE):  # exp(log w) without the largest subtracted: 0 / 0 when all underflow
    def forward(self, h):
        super().forward(h)
        L = h.shape[1] // 2
        log_w = (-0.5 * np.sum(self.r**2, axis=2) - 0.5 * np.sum(self.z**2, axis=2)
                 + 0.5 * np.sum(self.eps**2 + self.logvar, axis=2) - L / 2 * np.log(2 * np.pi))
        w = np.exp(log_w)
        self.wt = w / w.sum(axis=0)
        return np.log(w.mean(axis=0))[:, None]


class IWAEDrawsSecond(MyIWAE):  # eps drawn (N, K, L), the axes swapped
    def forward(self, h):
        n, L = len(h), h.shape[1] // 2
        self.mu, self.logvar = h[:, :L], h[:, L:]
        self.x = np.random.default_rng(1).standard_normal((n, L))
        eps = np.random.default_rng(0).standard_normal((n, self.K, L))
        self.eps = eps.transpose(1, 0, 2)  # (K, N, L) now, but not the numbers asked for
        self.std = np.exp(self.logvar / 2)
        self.z = self.mu + self.std * self.eps
        self.r = self.x - self.z @ self.params["W"]
        log_w = (-0.5 * np.sum(self.r**2, axis=2) - 0.5 * np.sum(self.z**2, axis=2)
                 + 0.5 * np.sum(self.eps**2 + self.logvar, axis=2) - L / 2 * np.log(2 * np.pi))
        top = log_w.max(axis=0)
        w = np.exp(log_w - top)
        self.wt = w / w.sum(axis=0)
        return (top + np.log(w.mean(axis=0)))[:, None]


class IWAEBatchMax(MyIWAE):  # shifted by the batch's largest log w, not each row's
    def forward(self, h):
        super().forward(h)
        L = h.shape[1] // 2
        log_w = (-0.5 * np.sum(self.r**2, axis=2) - 0.5 * np.sum(self.z**2, axis=2)
                 + 0.5 * np.sum(self.eps**2 + self.logvar, axis=2) - L / 2 * np.log(2 * np.pi))
        top = log_w.max()
        w = np.exp(log_w - top)
        self.wt = w / w.sum(axis=0)
        return (top + np.log(w.mean(axis=0)))[:, None]


class IWAEVarianceAsStd(MyIWAE):  # z = mu + exp(logvar) * eps
    def forward(self, h):
        L = h.shape[1] // 2
        return super().forward(np.hstack([h[:, :L], 2 * h[:, L:]])) - 0.5 * np.sum(
            h[:, L:], axis=1, keepdims=True)  # log q's logvar as given: only z's std is wrong


class IWAEMeanLogW(MyIWAE):  # the K-draw ELBO
    def forward(self, h):
        super().forward(h)
        L = h.shape[1] // 2
        log_w = (-0.5 * np.sum(self.r**2, axis=2) - 0.5 * np.sum(self.z**2, axis=2)
                 + 0.5 * np.sum(self.eps**2 + self.logvar, axis=2) - L / 2 * np.log(2 * np.pi))
        return log_w.mean(axis=0)[:, None]


class IWAEUniformWeights(MyIWAE):  # each draw's gradient weighted 1/K
    def path(self):
        g, wt = super().path()
        return g, np.full_like(wt, 1 / self.K)


class STLKeepsScore(MyIWAE):  # the bound's own gradient handed in as STL's
    pass


class STLDropsSlope(MySTL):  # log q held whole: its slope in z dropped too
    def backward(self, dy):
        eps, self.eps = self.eps, self.eps.copy()
        std = self.std
        self.std = np.full_like(std, np.inf)  # eps / std = 0
        try:
            g, wt = self.path()
            dmu = np.sum(wt * g, axis=0)
            dlogvar = np.sum(wt * g * eps * std / 2, axis=0)
            self.write_dW(dy)
            return np.hstack([dy * dmu, dy * dlogvar])
        finally:
            self.eps, self.std = eps, std


class DReGNotSquared(MySTL):  # that is STL
    pass


class DReGWithIWAEGradient(MyIWAE):  # the bound's gradient
    pass


def rel_error_without_floor(a, n):
    return np.abs(a - n) / (np.abs(a) + np.abs(n))


__all__ = ["rel_error"]
