"""Optimizers that update a model's flat parameter vector in place.

Both read the gradient from ``params.grad`` (filled by ``VAE.forward_backward``) and change
``params.vector`` in place, so every named view of the model sees the new values. Their state is a
dict of arrays and numbers (``state_dict`` / ``load_state_dict``), saved in checkpoints, so a
resumed run continues exactly.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..utils.threads import even_slices, usable_cores

# Below this many parameters one thread is quicker than handing work to two.
MIN_PARAMS_PER_THREAD = 100_000
# Each thread's slice is updated in chunks of at most this many bytes per vector (see Adam).
CHUNK_BYTES = 2**20


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction: ``npvae.reference.adam_step`` made fast.

    With g the gradient and t the step count (from 1):
        m = beta1 * m + (1 - beta1) * g                  first moment
        v = beta2 * v + (1 - beta2) * g^2                second moment
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)
    Shapes: theta, g, m, v (P,). The tests hold every step to ``reference.adam_step`` (1e-12).

    Speed: the update is a dozen elementwise passes over P ~ 1e6 numbers, as costly as a whole
    forward and backward pass if written plainly. These tricks make it cheaper, at the price of
    code that no longer reads like the equations (read ``reference.adam_step`` for those):
    - The moments are kept divided by their (1 - beta): with ``m' = m / (1 - beta1)`` and
      ``v' = v / (1 - beta2)`` the updates are ``m' = beta1 * m' + g`` and
      ``v' = beta2 * v' + g^2``, one scaling in place and one addition each. The constants come
      back in two numbers per step: with ``c = (1 - beta2) / (1 - beta2^t)``,
          theta = theta - step * m' / (sqrt(v') + eps / sqrt(c)),
          step = lr * (1 - beta1) / (1 - beta1^t) / sqrt(c).
      (So ``state_dict`` holds m' and v', not m and v.)
    - Every pass is in place (``out=``, into one work vector allocated once). ``work``, if given,
      is a (P,) vector that is free while ``step`` runs, to serve as that work vector. ``fit``
      passes the twin model's gradient (``DataParallel.spare``), so that one vector fewer (4 MB
      for MNIST's model) competes with the others for the cache: a slightly faster epoch.
    - The vector is cut into one contiguous slice per core, updated in parallel by a small thread
      pool (NumPy releases the GIL inside each pass).
    - Each slice is updated in chunks of at most ``CHUNK_BYTES`` per vector, all ten passes over
      one chunk before the next: the chunk's pieces of g, m, v, theta and the work vector stay in
      the cache between passes. (This matters for float64, whose five vectors of 8 MB outgrow a
      32 MB cache; float32's fit in it either way.)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, threads=None, work=None):
        check_adam_arguments(lr, betas, eps)
        self.params = params
        self.lr, self.betas, self.eps = float(lr), tuple(map(float, betas)), float(eps)
        self.t = 0
        self.m = np.zeros_like(params.vector)  # m' = m / (1 - beta1)
        self.v = np.zeros_like(params.vector)  # v' = v / (1 - beta2)
        if work is None:
            work = np.empty_like(params.vector)
        elif work.shape != params.vector.shape or work.dtype != params.vector.dtype \
                or np.shares_memory(work, params.vector) or np.shares_memory(work, params.grad):
            raise ValueError("work must be a vector of its own with the shape and dtype of "
                             "params.vector")
        self._work = work
        threads = threads or min(usable_cores(), 4)
        threads = max(1, min(threads, len(params.vector) // MIN_PARAMS_PER_THREAD))
        numbers_per_chunk = max(1, CHUNK_BYTES // params.vector.itemsize)
        self._thread_chunks = []  # one list of chunks per thread
        for part in even_slices(0, len(params.vector), threads):
            count = -(-(part.stop - part.start) // numbers_per_chunk)  # rounded up
            self._thread_chunks.append(even_slices(part.start, part.stop, count))
        self._pool = ThreadPoolExecutor(threads - 1) if threads > 1 else None

    def step(self):
        """One update of ``params.vector`` from ``params.grad``."""
        self.t += 1
        beta1, beta2 = self.betas
        c = (1 - beta2) / (1 - beta2**self.t)
        step, eps = self.lr * (1 - beta1) / (1 - beta1**self.t) / c**0.5, self.eps / c**0.5
        others = [self._pool.submit(self._update, chunks, step, eps)
                  for chunks in self._thread_chunks[1:]]
        self._update(self._thread_chunks[0], step, eps)  # this thread takes the first slice
        for future in others:
            future.result()

    def _update(self, chunks, step, eps):
        """The update on one thread's slice of the vectors, chunk by chunk."""
        for chunk in chunks:
            self._update_chunk(chunk, step, eps)

    def _update_chunk(self, part, step, eps):
        """The update on one chunk of the vectors, every pass in place."""
        beta1, beta2 = self.betas
        g, m, v = self.params.grad[part], self.m[part], self.v[part]
        work, theta = self._work[part], self.params.vector[part]
        m *= beta1
        m += g  # m' = beta1 * m' + g
        v *= beta2
        v += np.multiply(g, g, out=work)  # v' = beta2 * v' + g^2
        np.sqrt(v, out=work)
        work += eps
        np.divide(m, work, out=work)
        work *= step
        theta -= work  # theta - step * m' / (sqrt(v') + eps / sqrt(c))

    def state_dict(self):
        return {"t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state):
        self.t = check_state(state, nonnegative=("v",))
        self.m[...] = state["m"]
        self.v[...] = state["v"]


def check_state(state, nonnegative=()):
    """An optimizer's saved state: returns its step count t, or raises ValueError unless t is
    an integer >= 0 and every array finite (and those in ``nonnegative`` >= 0)."""
    t = np.asarray(state["t"])
    if t.ndim != 0 or t.dtype.kind not in "iu" or t < 0:
        raise ValueError(f"its step count t must be an integer >= 0; got {state['t']!r}")
    for key, value in state.items():
        value = np.asarray(value)
        if key != "t" and (value.dtype.kind != "f" or not np.isfinite(value).all()
                           or (key in nonnegative and (value < 0).any())):
            raise ValueError(f"its {key} must hold finite numbers"
                             + (" >= 0" if key in nonnegative else ""))
    return int(t)


def check_adam_arguments(lr, betas, eps):
    """Raise ValueError unless lr > 0 is finite, both betas lie in [0, 1) and eps >= 0."""
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1); got {betas!r}")
    if not (np.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0; got {eps!r}")


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum:
        velocity = momentum * velocity + g
        theta = theta - lr * velocity
    Shapes: theta, g, velocity (P,).
    """

    def __init__(self, params, lr=1e-2, momentum=0.9):
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1); got {momentum!r}")
        self.params, self.lr, self.momentum = params, float(lr), float(momentum)
        self.t = 0
        self.velocity = np.zeros_like(params.vector)
        self._work = np.empty_like(params.vector)

    def step(self):
        self.t += 1
        self.velocity *= self.momentum
        self.velocity += self.params.grad
        self.params.vector -= np.multiply(self.velocity, self.lr, out=self._work)

    def state_dict(self):
        return {"t": self.t, "velocity": self.velocity}

    def load_state_dict(self, state):
        self.t = check_state(state)
        self.velocity[...] = state["velocity"]
