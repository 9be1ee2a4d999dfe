"""Data parallelism: each core computes the gradient of its own share of every batch.

A training step is half matrix products and half elementwise work (the likelihood, the
activations, Adam). BLAS spreads each product over the cores by itself, but the elementwise work
between the products runs on one core, while BLAS's idle threads spin on the other. So instead
every batch is cut into ``SHARES`` shares of rows, one per thread. Each thread runs the whole
forward and backward pass of its share on its own twin of the model (``VAE.twin``: the same
parameters, its own layers and gradient vector), with single-threaded BLAS. The twins' layers keep
work arrays (``VAE.keep_work_arrays``): fresh memory for every batch costs page faults. The
first twin writes its gradient straight into the model's gradient vector. NumPy releases
the GIL while it computes, so the threads really run at once.

Each share's loss is its sum over rows divided by the size of the whole batch, so the batch's
loss and gradient are the sums of the shares':

    grad = d/dtheta (1/N sum_n loss_n) = sum_s d/dtheta (1/N sum_{n in share s} loss_n)

The sum is taken in parallel too, each thread adding up one part of the gradient vector.

The number of shares is fixed, whatever the number of cores (one core runs them one after the
other), so the numbers do not depend on the machine: the same seed gives the same parameters.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..models.coupled import CoupledVAE, Encoded, FreeBits, decode_backward, encode
from ..models.vae import LossParts
from ..utils.threads import blas_threads, even_slices, usable_cores

SHARES = 2


class DataParallel:
    """``forward_backward`` like ``VAE.forward_backward`` (it fills ``model.params.grad`` with the
    gradient of the batch mean and returns the batch's ``LossParts``), computed as ``SHARES``
    shares of rows in as many threads.

    Use it inside ``with parallel.blas_per_thread():``, which gives BLAS the cores divided by
    the threads (one each on a two-core machine) and restores the old setting on exit. (Its
    threads end when it is garbage-collected.)

    ``spare``: a (P,) vector that nothing needs from the end of one ``forward_backward`` to the
    start of the next (the twin's gradient, once added into the model's): work space for the
    optimizer's step in between, so that no other vector of that size is needed.
    """

    def __init__(self, model, cores=None):
        self.model = model
        self.models = [model.twin(share_grad=True)] + [model.twin() for _ in range(SHARES - 1)]
        for twin in self.models:
            twin.keep_work_arrays()
        self.spare = self.models[1].params.grad
        self.cores = cores or usable_cores()
        self.threads = min(SHARES, self.cores)
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self._vector_parts = even_slices(0, len(model.params.vector), SHARES)

    def blas_per_thread(self):
        """A context in which BLAS uses ``cores // threads`` threads."""
        return blas_threads(max(1, self.cores // self.threads))

    def forward_backward(self, x, eps, beta=None, y=None):
        """x (N, D), eps (N, K) or (k, N, K), y (N,) or None, already checked; returns the
        batch's LossParts."""
        n = len(x)
        if n < SHARES:
            return self.models[0].forward_backward(x, eps, beta, y)
        bounds = [n * s // SHARES for s in range(SHARES + 1)]
        rows = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]

        def share(s):  # forward and backward of share s on model s
            labels = None if y is None else y[rows[s]]
            noise = eps[rows[s]] if eps.ndim == 2 else eps[:, rows[s]]  # (k, N, K): N second
            return self.models[s].forward_backward(x[rows[s]], noise, beta, labels,
                                                   batch_size=n)

        parts = self._run(share)
        self._run(self._add_gradients)
        return LossParts(*(sum(values) for values in zip(*parts)))

    def _add_gradients(self, s):
        """Part s of the vector: the model's gradient += each twin's."""
        part = self._vector_parts[s]
        grad = self.model.params.grad[part]
        for twin in self.models[1:]:
            grad += twin.params.grad[part]

    def _run(self, job):
        """``[job(0), ..., job(SHARES - 1)]``, at once in the threads; this thread does job(0)."""
        if self._pool is None:
            return [job(s) for s in range(SHARES)]
        others = [self._pool.submit(job, s) for s in range(1, SHARES)]
        return [job(0)] + [future.result() for future in others]


class CoupledParallel(DataParallel):
    """``DataParallel`` for a ``CoupledVAE``: stages 1 and 3 in ``SHARES`` shares of rows, one
    per thread, each on a twin of the model; stage 2 on the whole batch between them (in blocks
    of rows, one per thread, if the model's ``penalty_by_rows``); then the model's
    ``batch_step``. The same numbers as ``model.forward_backward`` to round-off. For a plain
    ``VAE`` with free bits, stage 2 is ``FreeBits``'s."""

    def __init__(self, model, cores=None):
        super().__init__(model, cores)
        self.objective = model if isinstance(model, CoupledVAE) else FreeBits(model)

    def forward_backward(self, x, eps, beta=None, y=None):
        n = len(x)
        bounds = [n * s // SHARES for s in range(SHARES + 1)]
        rows = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]  # (one may be empty)
        labels = [None if y is None else y[r] for r in rows]

        def encode_share(s):
            return encode(self.models[s], x[rows[s]], eps[rows[s]], labels[s])

        shares = self._run(encode_share)
        encoded = Encoded(*(np.concatenate(parts) for parts in zip(*shares)))
        if self.objective.penalty_by_rows:
            blocks = self._run(lambda s: self.objective.penalty(encoded, beta, rows[s]))
            dz = np.concatenate([p.dz for p in blocks])
            dmu = sum(p.dmu for p in blocks)
            dlogvar = sum(p.dlogvar for p in blocks)
        else:
            blocks = [self.objective.penalty(encoded, beta)]
            dz, dmu, dlogvar = blocks[0].dz, blocks[0].dmu, blocks[0].dlogvar
        self.objective.batch_step(encoded.z)

        def backward_share(s):
            r = rows[s]
            return decode_backward(self.models[s], x[r], eps[r], labels[s], shares[s], dz[r],
                                   dmu[r], dlogvar[r], n)

        rec = np.concatenate(self._run(backward_share))
        self._run(self._add_gradients)
        return self.objective.loss_parts(rec, blocks)
