import math
import zlib

import numpy as np
import pytest

from npvae import VAE, fit
from npvae.data.catalog import load_digits_split
from npvae.evaluation.elbo import anomaly_scores, iwae_nll_per_example
from npvae.evaluation.ood import (SCORES, compressed_bits, detection_metrics, eight_bit_nll,
                                  ood_scores)


def test_metrics_of_scores_worked_out_by_hand():
    # Out-of-distribution scores above 0, 1, 2, 3 in 2, 3, 4 and 4 of the 4 in-distribution
    # ones: AUROC 13/16. Ranked from the top: out, out, in, out, in, out: the positives come at
    # precisions 1/1, 2/2, 3/4, 4/6. Catching all 4 positives (TPR 1 >= 0.95) means a threshold
    # of 1.5, above which lie 2 of the 4 negatives.
    result = detection_metrics([0, 1, 2, 3], [1.5, 2.5, 3.5, 4.5])
    assert result["auroc"] == pytest.approx(13 / 16)
    assert result["aupr"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)
    assert result["fpr95"] == 0.5


def test_metrics_at_the_extremes():
    assert detection_metrics([0, 1], [2, 3]) == {"auroc": 1.0, "aupr": 1.0, "fpr95": 0.0}
    backwards = detection_metrics([2, 3], [0, 1])
    assert backwards["auroc"] == 0.0 and backwards["fpr95"] == 1.0
    assert backwards["aupr"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    ties = detection_metrics([1, 1, 1], [1, 1])
    assert ties["auroc"] == 0.5 and ties["aupr"] == pytest.approx(0.4) and ties["fpr95"] == 1.0
    # the same 20 scores in and out: every threshold passes as many negatives as positives, so
    # FPR = TPR = 0.95 at the threshold 1 (the ROC curve's inner points all count)
    same = detection_metrics(np.arange(20), np.arange(20))
    assert same == {"auroc": pytest.approx(0.5), "aupr": pytest.approx(0.5), "fpr95": 0.95}


def test_fpr95_needs_95_percent_not_all_of_the_positives():
    # 19 of 20 positives (exactly 95%) score 10, above every negative; the 20th scores lowest.
    result = detection_metrics(np.arange(1, 9), [0] + [10] * 19)
    assert result["fpr95"] == 0.0  # asking for TPR > 0.95 (all 20) would give 1.0
    assert result["auroc"] == pytest.approx(19 / 20)


def test_metrics_need_both_kinds():
    with pytest.raises(ValueError, match="at least one score of each kind; got 0 "):
        detection_metrics([], [1.0])


def test_compressed_bits_are_zlib_lengths_of_8_bit_pixels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 64)).astype(np.uint8)
    X = np.vstack([pixels / 255, np.zeros((1, 64))]).astype(np.float32)
    bits = compressed_bits(X)
    expected = [8 * len(zlib.compress(row.tobytes(), 9)) for row in pixels]
    assert bits[:3].tolist() == expected  # pixels survive the round trip through [0, 1]
    assert bits[3] < bits[:3].min() / 4  # a blank image is cheap, noise is not
    with pytest.raises(ValueError, match=r"X must lie in \[0, 1\]; got values in \[0, 2\]"):
        compressed_bits(2 * X)
    with pytest.raises(ValueError, match=r"X must be 2-D .*; got shape \(64,\)"):
        compressed_bits(X[0])


def test_binary_images_compress_the_shorter_way_and_grey_levels_are_refused():
    rng = np.random.default_rng(0)
    X = (rng.random((3, 784)) < [[0.5], [0.05], [0.0]]).astype(np.float32)
    bits = compressed_bits(X, binary=True)
    for row, length in zip(X.astype(np.uint8), bits):
        packed, bytewise = (8 * len(zlib.compress(a.tobytes(), 9))
                            for a in (np.packbits(row), row))
        assert length == 1 + min(packed, bytewise)
    assert bits[2] < bits[1] < bits[0]
    with pytest.raises(ValueError, match="binary images must hold pixels 0 or 1"):
        compressed_bits(X / 2, binary=True)


LOGITS = [0.0, 1e-300, 1e-30, 1e-8, 0.3, -2.0, 40.0, -700.0, 1e4, -1e4, 1e300]


@pytest.mark.parametrize("logit", LOGITS)
def test_the_8_bit_likelihood_is_a_distribution_over_the_256_grey_levels(logit):
    """P(v | l) = e^(l v/255) / sum_u e^(l u/255): summed over the 256 levels it is 1, and it
    is the brute-force log-sum-exp over them, at any logit."""
    model = VAE(1, (3,), 2, dtype=np.float64, random_state=0)
    levels = np.arange(256.0)[:, None] / 255  # (256, 1): each level as a one-pixel image
    nll = eight_bit_nll(model, np.full((256, 1), logit), levels)
    assert np.isfinite(nll).all() and nll.min() >= 0
    assert np.exp(-nll).sum() == pytest.approx(1, abs=1e-13)
    scaled = logit * levels[:, 0]
    np.testing.assert_allclose(nll, np.logaddexp.reduce(scaled) - scaled, rtol=1e-12,
                               atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_8_bit_likelihood_is_the_cross_entropy_plus_log_z(dtype):
    """-log P(v | l) = BCE(v/255, l) + log Z(l), with log Z in [0, log 256]: the cross-entropy
    undercounts each grey pixel; at the extremes it is finite and keeps its dtype."""
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((5, 64)) * [[0.1], [1], [10], [1e3], [1e6]]).astype(dtype)
    x = (rng.integers(0, 256, (5, 64)) / 255).astype(dtype)
    nll = eight_bit_nll(VAE(64, (3,), 2, dtype=dtype, random_state=0), logits, x)
    assert nll.dtype == dtype and np.isfinite(nll).all()
    l64, x64 = logits.astype(np.float64), x.astype(np.float64)
    bce = (np.logaddexp(0, l64) - x64 * l64).sum(axis=1)
    log_z = (np.logaddexp.reduce(l64[..., None] * np.arange(256) / 255, axis=2)
             - np.logaddexp(0, l64)).sum(axis=1)
    assert (log_z >= 0).all() and (log_z <= 64 * math.log(256) + 1e-9).all()
    np.testing.assert_allclose(nll, bce + log_z, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_a_gaussian_model_gets_no_code_length():
    """A density is no code of the 8-bit image (it leaves out the mass outside [0, 1]): no
    code_length and no complexity, zlib's length of the 8-bit image stays as the baseline."""
    model = VAE(64, (3,), 2, likelihood="gaussian", gaussian_std=0.2, random_state=0)
    X = load_digits_split().X_test[:20]
    with pytest.raises(ValueError, match="the 8-bit code length is that of a Bernoulli"):
        eight_bit_nll(model, X, X)
    for binary in (False, True):
        scores = ood_scores(model, (X > 0.5).astype(np.float32) if binary else X, k=3,
                            binary=binary)
        assert list(scores) == ["neg_elbo", "iwae", "reconstruction", "compressed"]
    np.testing.assert_array_equal(ood_scores(model, X, k=3)["compressed"], compressed_bits(X))


@pytest.fixture(scope="module")
def without_ones():
    """A small model of the digits but the 1s, which are then the out-of-distribution images."""
    data = load_digits_split()
    model = VAE(64, (32,), 4, random_state=0)
    fit(model, data.X_train[data.y_train != 1], epochs=5, batch_size=64)
    return model, data.X_test[data.y_test != 1], data.X_test[data.y_test == 1]


def test_ood_scores_are_the_library_scores(without_ones):
    model, X, _ = without_ones
    scores = ood_scores(model, X[:40], k=7, random_state=3)
    assert tuple(scores) == SCORES and all(s.shape == (40,) for s in scores.values())
    neg_elbo, squared_error = anomaly_scores(model, X[:40], random_state=3)
    nll = iwae_nll_per_example(model, X[:40], 7, random_state=3)
    coded = iwae_nll_per_example(model, X[:40], 7, random_state=3,
                                 nll=lambda out, x: eight_bit_nll(model, out, x))
    np.testing.assert_array_equal(scores["neg_elbo"], neg_elbo)
    np.testing.assert_array_equal(scores["reconstruction"], squared_error)
    np.testing.assert_array_equal(scores["iwae"], nll)
    np.testing.assert_allclose(scores["code_length"], coded / math.log(2))
    np.testing.assert_array_equal(scores["compressed"], compressed_bits(X[:40]))
    np.testing.assert_allclose(scores["complexity"], coded / math.log(2) - compressed_bits(X[:40]))
    # the 8-bit code is the cross-entropy and more: log Z(l) >= 0 for every pixel, every sample
    assert (coded > nll).all()


def test_a_binarized_model_codes_binary_images(without_ones):
    model, X, _ = without_ones
    from npvae.data.dataset import binarize
    B = binarize(X[:30], random_state=0)
    scores = ood_scores(model, B, k=5, binary=True)
    nll = iwae_nll_per_example(model, B, 5)
    np.testing.assert_allclose(scores["code_length"], nll / math.log(2))
    np.testing.assert_array_equal(scores["compressed"], compressed_bits(B, binary=True))


def test_the_likelihood_prefers_the_simpler_unseen_class_and_the_correction_does_not(
        without_ones):
    """Nalisnick et al.'s failure in miniature: a 1 has little ink, so a model that never saw
    one still gives it a higher likelihood than the digits it knows (AUROC 0.32 with this seed);
    subtracting the compressed length turns the ranking round (0.88). (The compressed length
    alone, 0.11, would do as well read the other way round: a 1 is simple.)"""
    model, seen, ones = without_ones
    scores_in, scores_out = ood_scores(model, seen, k=5), ood_scores(model, ones, k=5)
    auroc = {s: detection_metrics(scores_in[s], scores_out[s])["auroc"] for s in SCORES}
    assert auroc["neg_elbo"] < 0.45 and auroc["iwae"] < 0.45
    assert auroc["complexity"] > 0.8
