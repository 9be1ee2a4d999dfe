"""beta-TCVAE and FactorVAE against PyTorch's autograd (skipped without PyTorch): the formulas of
the papers written again with torch, sharing no code and no derivation with npvae."""

import math

import numpy as np
import pytest

from npvae import TCVAE, FactorVAE
from npvae.models.tcvae import kl_decomposition

torch = pytest.importorskip("torch")


def torch_weights(B, N, estimator):
    if estimator == "mws":
        return torch.full((B, B), -math.log(B * N), dtype=torch.float64)
    M = B - 1
    W = torch.full((B, B), 1.0 / M, dtype=torch.float64)
    for i in range(B):  # the paper's definition, one entry at a time
        W[i, (i + 1) % B] = (N - M) / (N * M)
        W[i, i] = 1.0 / N
    return W.log()


def torch_decomposition(z, mu, logvar, N, estimator):
    B = z.shape[0]
    L = -0.5 * (math.log(2 * math.pi) + logvar[None] + (z[:, None] - mu[None]) ** 2
                / logvar.exp()[None])  # L[i, j, d]
    log_w = torch_weights(B, N, estimator)
    log_qz = torch.logsumexp(log_w + L.sum(2), dim=1)
    log_prod = torch.logsumexp(log_w[:, :, None] + L, dim=1).sum(1)
    log_qzx = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    return log_qzx - log_qz, log_qz - log_prod, log_prod - log_pz


def torch_vae_parts(model, params, x, eps):
    """mu, logvar, z and the logits of the model's networks (ReLU), from torch tensors."""
    def run(prefix, h, last_activation):
        names = sorted({n.rsplit(".", 1)[0] for n in params if n.startswith(prefix + ".")},
                       key=lambda n: int(n.split(".")[1]))
        for k, name in enumerate(names):
            h = h @ params[name + ".W"] + params[name + ".b"]
            if last_activation or k < len(names) - 1:
                h = torch.relu(h)
        return h
    h = run("encoder", x, True)
    mu = h @ params["mu_head.W"] + params["mu_head.b"]
    logvar = h @ params["logvar_head.W"] + params["logvar_head.b"]
    z = mu + (0.5 * logvar).exp() * eps
    return mu, logvar, z, run("decoder", z, False)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_tcvae_loss_and_gradients_equal_autograd(estimator):
    rng = np.random.default_rng(0)
    model = TCVAE(12, (10, 8), 4, alpha=0.8, beta=5.0, gamma=1.4, estimator=estimator,
                  dataset_size=300, dtype=np.float64, random_state=1)
    x, eps = rng.random((9, 12)), rng.standard_normal((9, 4))
    loss, grads = model.loss_and_grads(x, eps)
    params = {n: torch.tensor(v, requires_grad=True) for n, v in model.named_parameters()}
    mu, logvar, z, logits = torch_vae_parts(model, params, torch.tensor(x), torch.tensor(eps))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(x),
                                                               reduction="none").sum(1)
    mi, tc, dwkl = torch_decomposition(z, mu, logvar, 300, estimator)
    expected = torch.mean(bce + 0.8 * mi + 5.0 * tc + 1.4 * dwkl)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    for name, p in params.items():
        err = np.abs(grads[name] - p.grad.numpy()).max() / np.abs(p.grad.numpy()).max()
        assert err < 1e-9, (name, err)
    # and the decomposition itself, on these samples
    ours = kl_decomposition(z.detach().numpy(), mu.detach().numpy(), logvar.detach().numpy(),
                            300, estimator)
    for a, b in zip(ours, (mi, tc, dwkl)):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-11, atol=1e-11)


def test_factorvae_loss_and_gradients_equal_autograd():
    rng = np.random.default_rng(0)
    model = FactorVAE(12, (10,), 3, gamma=7.0, beta=1.5, discriminator_hidden=(9, 8),
                      dtype=np.float64, random_state=2)
    x, eps = rng.random((6, 12)), rng.standard_normal((6, 3))
    loss, grads = model.loss_and_grads(x, eps)
    params = {n: torch.tensor(v, requires_grad=True) for n, v in model.named_parameters()}
    mu, logvar, z, logits = torch_vae_parts(model, params, torch.tensor(x), torch.tensor(eps))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(x),
                                                               reduction="none").sum(1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)
    h = z
    layers = model.discriminator.dense_layers()
    for k, layer in enumerate(layers):
        h = h @ torch.tensor(layer.params["W"]) + torch.tensor(layer.params["b"])
        if k < len(layers) - 1:
            h = torch.nn.functional.leaky_relu(h, 0.2)
    expected = torch.mean(bce + 1.5 * kl + 7.0 * h[:, 0])
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    for name, p in params.items():
        err = np.abs(grads[name] - p.grad.numpy()).max() / np.abs(p.grad.numpy()).max()
        assert err < 1e-9, (name, err)
