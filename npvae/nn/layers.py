"""Layers with hand-written backward passes.

The layer interface (what ``npvae gradcheck --layer`` expects of a user's own class too):

- ``forward(x)`` returns the output and keeps what backward needs in attributes (``self._x``).
- ``backward(dy)`` takes dLoss/dy, writes the parameter gradients in place into
  ``self.grads[key]`` (overwriting, not accumulating) and returns dLoss/dx. It never changes ``dy``.
  Calling it before any forward raises RuntimeError.
- ``params`` and ``grads``: dicts key -> array (empty for layers without parameters).

Shape letters: N batch, I inputs, O outputs. The same maths, as plain functions with no speed
tricks, is in ``npvae/reference.py``.

Every array a layer returns is fresh: ``y1 = layer.forward(a); y2 = layer.forward(b)`` leaves
``y1`` intact. One speed trick is named and off by default: ``keep_work_arrays()``. A layer that
keeps work arrays writes each result into an array it keeps in ``work_arrays`` (through NumPy's
``out=``) and overwrites it on its next call. Fresh memory for every batch costs page faults
that on a VM took longer than the arithmetic, so the training engine (``npvae.training.parallel``)
turns it on for the twin models it runs the batches on, never for a model a user holds.
"""

import numpy as np

from ..utils.validation import check_dtype, check_random_state


class Layer:
    """Base class: no parameters, optional work arrays, the check that forward came first."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self.work_arrays = None  # None: fresh results; a dict: see keep_work_arrays

    def keep_work_arrays(self):
        """From now on write results into arrays kept in ``work_arrays`` and overwritten by the
        next call (the training engine's speed trick; see the module docstring)."""
        self.work_arrays = {}

    def backward_input(self, dy):
        """The gradient for the input alone, no parameter's gradient written: for a layer
        without parameters, ``backward`` itself."""
        return self.backward(dy)

    def _saved(self, value):
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value

    def _out(self, name, shape, dtype):
        """Where to write the result ``name``: None (NumPy makes a fresh array), or with work
        arrays kept, the work array of that name, made anew only when shape or dtype change."""
        if self.work_arrays is None:
            return None
        array = self.work_arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self.work_arrays[name] = np.empty(shape, dtype)
        return array


class Dense(Layer):
    """Affine layer ``y = x @ W + b``.

    Shapes: x (N, I), W (I, O), b (O,), y (N, O).
    Backward, with dy = dL/dy of shape (N, O):
        dW = x^T @ dy        (I, O)
        db = sum_n dy[n]     (O,)
        dx = dy @ W^T        (N, I)
    Initialisation: W ~ N(0, 2 / I) (He et al. 2015, which keeps the variance of ReLU activations
    the same from layer to layer), b = 0. ``input_grad=False`` skips dx (returns None): the first
    layer of a network needs no gradient with respect to the data, and it is the largest product.
    """

    def __init__(self, n_in, n_out, random_state=None, dtype=np.float64, input_grad=True):
        super().__init__()
        rng = check_random_state(random_state)
        dtype = check_dtype(dtype)
        std = np.sqrt(2.0 / n_in)
        self.params = {"W": (std * rng.standard_normal((n_in, n_out))).astype(dtype),
                       "b": np.zeros(n_out, dtype=dtype)}
        self.grads = {key: np.zeros_like(value) for key, value in self.params.items()}
        self.input_grad = input_grad
        self._x = None

    def forward(self, x):
        W, b = self.params["W"], self.params["b"]
        self._x = x
        y = np.matmul(x, W, out=self._out("y", (len(x), W.shape[1]), W.dtype))  # (N, O)
        y += b
        return y

    def backward(self, dy):
        x = self._saved(self._x)
        np.matmul(x.T, dy, out=self.grads["W"])  # (I, O), written straight into the gradient
        np.sum(dy, axis=0, out=self.grads["b"])  # (O,)
        if not self.input_grad:
            return None
        return np.matmul(dy, self.params["W"].T, out=self._out("dx", x.shape, dy.dtype))  # (N, I)

    def backward_input(self, dy):
        """``dx = dy @ W^T`` alone: dW and db are neither computed nor written (half the work,
        for a gradient with respect to the input only)."""
        self._saved(self._x)
        return np.matmul(dy, self.params["W"].T)  # (N, I)


class ReLU(Layer):
    """``y = max(x, 0)``; backward ``dx = dy * [x > 0]`` (the kink at 0 gets slope 0).

    Both directions multiply by the saved mask ``[x > 0]``: one pass each, and cheaper than
    ``np.maximum``."""

    def __init__(self):
        super().__init__()
        self._active = None

    def forward(self, x):
        self._active = np.greater(x, 0, out=self._out("active", x.shape, bool))  # (N, I)
        return np.multiply(x, self._active, out=self._out("y", x.shape, x.dtype))

    def backward(self, dy):
        active = self._saved(self._active)
        return np.multiply(dy, active, out=self._out("dx", dy.shape, dy.dtype))


class Tanh(Layer):
    """``y = tanh(x)``; backward ``dx = dy * (1 - y^2)``."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x):
        self._y = np.tanh(x)
        return self._y

    def backward(self, dy):
        y = self._saved(self._y)
        return dy * (1 - y * y)


def sigmoid(x):
    """``1 / (1 + exp(-x))`` without overflow: exp is only ever taken of ``-|x| <= 0``."""
    e = np.exp(-np.abs(x))  # in (0, 1]
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-x))``; backward ``dx = dy * y * (1 - y)``."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x):
        self._y = sigmoid(x)
        return self._y

    def backward(self, dy):
        y = self._saved(self._y)
        return dy * y * (1 - y)


class Sequential:
    """Layers applied in order; backward runs them in reverse."""

    def __init__(self, layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def backward_input(self, dy):
        """The gradient for the input alone: no layer writes a parameter's gradient."""
        for layer in reversed(self.layers):
            dy = layer.backward_input(dy)
        return dy

    def keep_work_arrays(self):
        for layer in self.layers:
            layer.keep_work_arrays()

    def named_layers(self, prefix):
        """Yield ``("<prefix>.<index>", layer)`` for the layers that have parameters."""
        for i, layer in enumerate(self.layers):
            if layer.params:
                yield f"{prefix}.{i}", layer


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


def mlp(sizes, activation="relu", last_activation=False, random_state=None, dtype=np.float64,
        input_grad=True):
    """Dense layers of the given sizes with an activation after each (and after the last only if
    ``last_activation``). ``sizes = (I, H1, ..., O)``."""
    rng = check_random_state(random_state)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(n_in, n_out, rng, dtype, input_grad=input_grad or i > 0))
        if last_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(layers)
