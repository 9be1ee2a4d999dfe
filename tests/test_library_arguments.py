"""The library refuses bad arguments with a ValueError that names the argument."""

import pytest

from npvae import VAE, Adam, evaluate, fit
from npvae.data.catalog import load_digits_split


@pytest.mark.parametrize("call, message", [
    (lambda m, X: evaluate(m, X, batch_size=-1), "batch_size must be a positive integer"),
    (lambda m, X: evaluate(m, X, batch_size=0), "batch_size must be a positive integer"),
    (lambda m, X: fit(m, X, epochs=1, warmup_epochs=-1), "warmup_epochs must be a number >= 0"),
    (lambda m, X: fit(m, X, epochs=1.5), "epochs must be a positive integer"),
    (lambda m, X: Adam(m.params, eps=-1), "eps must be a finite number >= 0"),
    (lambda m, X: Adam(m.params, lr=float("inf")), "lr must be a finite number > 0"),
    (lambda m, X: Adam(m.params, betas=(0.9,)), "betas must be two numbers"),
    (lambda m, X: VAE(64, (10**9,), 2), "136,000,000,068 parameters needs 2,144,000,000,816 bytes"),
    (lambda m, X: m.sample(10**12), "available: draw fewer at a time"),
    (lambda m, X: VAE(64, (8,), 2, free_bits=1e308), "free_bits must be a number of nats from 0"),
    (lambda m, X: VAE(64, (8,), 2, likelihood="gaussian", log_std_scale=1e308),
     "log_std_scale must be a number > 0 and at most 1,000,000"),
])
def test_the_library_refuses_bad_arguments(call, message):
    X = load_digits_split().X_train[:50]
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call(VAE(64, (8,), 2, random_state=0), X)
