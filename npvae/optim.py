"""Optimizers that update a model's flat parameter vector in place.

Both read the gradient from ``params.grad`` (filled by ``VAE.forward_backward``) and change
``params.vector`` in place, so every named view of the model sees the new values. Their state is a
dict of arrays and numbers (``state_dict`` / ``load_state_dict``), saved in checkpoints, so a
resumed run continues exactly.
"""

import numpy as np


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction.

    With g the gradient and t the step count (from 1):
        m = beta1 * m + (1 - beta1) * g                  first moment
        v = beta2 * v + (1 - beta2) * g^2                second moment
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)
    Shapes: theta, g, m, v (P,).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr!r}")
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1); got {betas!r}")
        self.params = params
        self.lr, self.betas, self.eps = float(lr), tuple(map(float, betas)), float(eps)
        self.t = 0
        self.m = np.zeros_like(params.vector)
        self.v = np.zeros_like(params.vector)

    def step(self):
        """One update of ``params.vector`` from ``params.grad``."""
        beta1, beta2 = self.betas
        self.t += 1
        g, m, v = self.params.grad, self.m, self.v
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        denom = np.sqrt(v / (1 - beta2**self.t))  # sqrt(v_hat)
        denom += self.eps
        self.params.vector -= (self.lr / (1 - beta1**self.t)) * m / denom

    def state_dict(self):
        return {"t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.m[...] = state["m"]
        self.v[...] = state["v"]


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum:
        velocity = momentum * velocity + g
        theta = theta - lr * velocity
    Shapes: theta, g, velocity (P,).
    """

    def __init__(self, params, lr=1e-2, momentum=0.9):
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1); got {momentum!r}")
        self.params, self.lr, self.momentum = params, float(lr), float(momentum)
        self.t = 0
        self.velocity = np.zeros_like(params.vector)

    def step(self):
        self.t += 1
        self.velocity *= self.momentum
        self.velocity += self.params.grad
        self.params.vector -= self.lr * self.velocity

    def state_dict(self):
        return {"t": self.t, "velocity": self.velocity}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.velocity[...] = state["velocity"]
