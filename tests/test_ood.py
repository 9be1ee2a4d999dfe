import math
import zlib

import numpy as np
import pytest

from npvae import VAE, fit
from npvae.data import load_digits_split
from npvae.evaluation import anomaly_scores, iwae_nll_per_example
from npvae.ood import SCORES, compressed_bits, detection_metrics, ood_scores


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
    np.testing.assert_array_equal(scores["neg_elbo"], neg_elbo)
    np.testing.assert_array_equal(scores["reconstruction"], squared_error)
    np.testing.assert_array_equal(scores["iwae"], nll)
    np.testing.assert_allclose(scores["complexity"], nll / math.log(2) - compressed_bits(X[:40]))


def test_the_likelihood_prefers_the_simpler_unseen_class_and_the_correction_does_not(
        without_ones):
    """Nalisnick et al.'s failure in miniature: a 1 has little ink, so a model that never saw
    one still gives it a higher likelihood than the digits it knows (AUROC 0.32 with this seed);
    subtracting the compressed length turns the ranking round (0.88)."""
    model, seen, ones = without_ones
    scores_in, scores_out = ood_scores(model, seen, k=5), ood_scores(model, ones, k=5)
    auroc = {s: detection_metrics(scores_in[s], scores_out[s])["auroc"] for s in SCORES}
    assert auroc["neg_elbo"] < 0.45 and auroc["iwae"] < 0.45
    assert auroc["complexity"] > 0.8
