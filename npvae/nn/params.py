"""Parameter storage: every parameter of a model is a named view into one flat vector.

Keeping all weights in one contiguous vector (and all gradients in a second one of the same
layout) makes everything that acts on "all parameters" a one-liner: an optimizer step is a few
vector operations, a gradient norm is ``np.linalg.norm(params.grad)``, saving is one array, and a
whole-model gradient check perturbs ``params.vector[i]``.

The one rule that comes with views: update them in place (``W -= lr * dW``, ``W[...] = ...``).
``W = W - lr * dW`` makes a new array and silently detaches ``W`` from the vector.
"""

import numpy as np


class Parameters:
    """All parameters of a list of layers, gathered into one flat vector with named views.

    ``Parameters([("encoder.0", dense), ...], dtype)`` copies each layer's arrays (its dicts
    ``layer.params`` and ``layer.grads``) into the flat vectors ``vector`` and ``grad`` and puts
    views of them back into the layer, so the layer keeps working as before, now on shared memory.
    With ``shared_vector`` (another model's ``params.vector``, same layout), the layers' values
    become views of that vector instead, and their own values are dropped: two models then hold
    the very same parameters. ``shared_grad`` does the same for the gradient vector.

    Attributes:
        vector: (P,) every parameter, in forward order.
        grad:   (P,) the matching gradients, same layout.
        names:  the names ``"<layer name>.<key>"``, e.g. ``"encoder.0.W"``, in forward order.
        values, grads: dicts name -> view of ``vector`` / ``grad`` with the parameter's shape.
    """

    def __init__(self, named_layers, dtype, shared_vector=None, shared_grad=None):
        named_layers = list(named_layers)
        size = sum(a.size for _, layer in named_layers for a in layer.params.values())
        for name, shared in (("shared_vector", shared_vector), ("shared_grad", shared_grad)):
            if shared is not None and (shared.shape != (size,) or shared.dtype != dtype):
                raise ValueError(f"{name} must have shape ({size},) and dtype {dtype}")
        self.vector = np.zeros(size, dtype=dtype) if shared_vector is None else shared_vector
        self.grad = np.zeros(size, dtype=dtype) if shared_grad is None else shared_grad
        self.names, self.values, self.grads = [], {}, {}
        start = 0
        for layer_name, layer in named_layers:
            for key, array in layer.params.items():
                stop = start + array.size
                value = self.vector[start:stop].reshape(array.shape)
                if shared_vector is None:
                    value[...] = array
                layer.params[key] = value
                layer.grads[key] = self.grad[start:stop].reshape(array.shape)
                name = f"{layer_name}.{key}"
                self.names.append(name)
                self.values[name] = value
                self.grads[name] = layer.grads[key]
                start = stop

    def __len__(self):
        return self.vector.size

    def all_views_attached(self):
        """True when every named value and gradient still shares memory with the flat vectors."""
        return all(np.shares_memory(self.values[n], self.vector)
                   and np.shares_memory(self.grads[n], self.grad) for n in self.names)
