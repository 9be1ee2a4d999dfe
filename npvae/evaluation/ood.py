"""Out-of-distribution detection: scores for images from another data set, and how well they work.

Train on one data set, score another: is the likelihood lower on images the model has never seen
the like of? Often not. A Fashion-MNIST model gives MNIST digits a *higher* ELBO than the clothes
it was trained on (Nalisnick et al. 2019, "Do deep generative models know what they don't
know?"): a digit is mostly black background, which any model of 28x28 images learns to encode
for a few bits, so its likelihood says "simple", not "familiar". Serra et al. (2020) correct for
that with the image's complexity, its length under a generic lossless compressor:

    S(x) = -log2 P(x) - L(x)      (bits)

high when the model needs more bits for x than a compressor that knows nothing of the training
data: x is unlike what the model learnt. Both lengths must be codes of the same thing. A model
trained on binarized images codes binary images (its Bernoulli likelihood is a probability of
them), so L compresses the binary image. A model trained on grey levels does not code anything
with its training loss: the Bernoulli cross-entropy on grey levels is not a probability of 8-bit
images (a pixel of grey 0.5 costs at most 1 bit, where 256 levels need up to 8). Here its
decoder's logits become one: each pixel's 256 grey levels weighted as the cross-entropy weighs
them, normalised (``eight_bit_nll``), and L compresses the 8-bit image. A Gaussian decoder's
density is not a code either, and gets no complexity score. Scores here are "higher = more
anomalous", and out-of-distribution images are the positives (label 1).

Shape letters: N examples, D data (pixels).
"""

import math
import zlib
from functools import partial

import numpy as np

from .elbo import anomaly_scores, iwae_nll_per_example

SCORES = ("neg_elbo", "iwae", "reconstruction", "code_length", "compressed", "complexity")


def detection_metrics(in_scores, out_scores):
    """How well a score tells out-of-distribution examples (the positives) from the rest.

    ``auroc``: area under the ROC curve, the chance that a random positive scores above a random
    negative (ties count half); 0.5 is chance, below 0.5 the score points the wrong way.
    ``aupr``: area under the precision-recall curve with the positives as the class of interest,
    as scikit-learn's ``average_precision_score`` (a step sum, no interpolation); chance is the
    positives' share. ``fpr95``: the false-positive rate at 95% true positives, read from the ROC
    curve (every threshold, none dropped): the smallest FPR among the thresholds whose TPR is at
    least 0.95.

    Shapes: in_scores (N_in,), out_scores (N_out,) -> dict of three floats.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    in_scores, out_scores = np.ravel(in_scores), np.ravel(out_scores)
    if not (len(in_scores) and len(out_scores)):
        raise ValueError("detection_metrics needs at least one score of each kind; got "
                         f"{len(in_scores)} in-distribution and {len(out_scores)} out")
    labels = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    scores = np.r_[in_scores, out_scores]
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return {"auroc": float(roc_auc_score(labels, scores)),
            "aupr": float(average_precision_score(labels, scores)),
            "fpr95": float(fpr[np.searchsorted(tpr, 0.95)])}  # tpr rises: first TPR >= 0.95


def compressed_bits(X, binary=False):
    """Each image's length in bits once losslessly compressed: L(x) of Serra et al. (2020).

    Grey levels (``binary=False``): the image quantised to 8 bits (round(255 x)), its bytes
    compressed with zlib at level 9: DEFLATE, the compressor inside PNG, from Python's standard
    library. Why it: it is the fastest of the standard library's three (about 15,000 28x28
    images a second), and in a check by hand on the README's Fashion-MNIST model against MNIST,
    bz2, lzma and PNG (Pillow) gave the complexity score AUROCs within 0.003 of zlib's. A
    stronger image compressor (Serra et al. found FLIF best) would estimate the complexity more
    closely. Binary images (``binary=True``, pixels 0 or 1): zlib of the pixels packed 8 to a
    byte or of one byte a pixel, whichever is shorter, plus the 1 bit that says which (packed
    is shorter for Fashion-MNIST, 730 against 889 bits on average; one a byte for MNIST, 551
    against 565). zlib's fixed header and checksum add the same 48 bits to every image: that
    shifts all scores alike and changes no ranking.

    Shapes: X (N, D), values in [0, 1] (0 or 1 if binary) -> (N,) integers.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_pixels); got shape {X.shape}")
    if X.size and not (X.min() >= 0 and X.max() <= 1):
        raise ValueError(f"X must lie in [0, 1]; got values in [{X.min():.8g}, {X.max():.8g}]")
    if not binary:
        pixels = np.rint(X * 255).astype(np.uint8)
        return np.array([8 * len(zlib.compress(row.tobytes(), 9)) for row in pixels],
                        dtype=np.int64)
    if not np.isin(X, (0, 1)).all():
        raise ValueError("binary images must hold pixels 0 or 1; got grey levels")
    pixels = X.astype(np.uint8)
    packed = np.packbits(pixels, axis=1)
    return np.array([1 + 8 * min(len(zlib.compress(a.tobytes(), 9)),
                                 len(zlib.compress(b.tobytes(), 9)))
                     for a, b in zip(pixels, packed)], dtype=np.int64)


def eight_bit_nll(model, out, x):
    """-log P(v | z), nats: a Bernoulli decoder's logits as a distribution over the 8-bit image
    v = round(255 x), summed over the D pixels.

    Each pixel's 256 grey levels weighted as the cross-entropy weighs them,
    p^(v/255) (1 - p)^(1 - v/255) = e^(l v/255) (1 - p), normalised:
        P(v | l) = e^(l v/255) / sum_{u=0}^{255} e^(l u/255)
    The sum is geometric; with a = |l| / 255 its log is
        log sum = max(l, 0) + log((1 - e^(-256 a)) / (1 - e^(-a)))     (log 256 at l = 0)
    with expm1 for both factors, so -log P = max(l, 0) - l v/255 + that fraction's log: no exp
    overflows and no log sees 0, at any logit. It is the cross-entropy plus log Z(l),
    Z(l) = sum_u p^(u/255) (1 - p)^(1 - u/255) in [1, 256]: the cross-entropy on grey levels
    undercounts every pixel by 0 to log 256 nats, which is why it is no code of 8-bit images.
    (A Gaussian decoder is not handled: its density times a bin's width misses the mass outside
    [0, 1], and the bins' exact probabilities need the error function, which NumPy lacks.)

    Shapes: out (N, D), x (N, D) in [0, 1] -> (N,).
    """
    if model.likelihood != "bernoulli":
        raise ValueError("the 8-bit code length is that of a Bernoulli decoder; got "
                         f"likelihood={model.likelihood!r}")
    v = np.rint(x * 255) / 255  # the 8-bit levels, as values in [0, 1]
    a = np.maximum(np.abs(out) / 255, np.finfo(out.dtype).tiny)  # (N, D)
    log_sum = np.maximum(out, 0) + np.log(-np.expm1(-256 * a)) - np.log(-np.expm1(-a))
    return (log_sum - out * v).sum(axis=1)


def ood_scores(model, X, k=50, random_state=0, y=None, binary=False):
    """The anomaly scores of each image, higher meaning more unusual, in a dict of (N,):

    ``neg_elbo``        negative ELBO in nats, averaged over 10 noise draws
    ``iwae``            -(IWAE bound on log p(x)) with k samples, nats: a tighter upper bound on
                        the negative log-likelihood
    ``reconstruction``  squared error |x - recon(x)|^2 of the reconstruction from the posterior
                        mean
    ``code_length``     the model's code for the image, bits: the IWAE bound on -log2 P(x) of
                        the binary image (``binary``: a model trained on binarized images, X
                        its 0/1 pixels), or else of the 8-bit image (``eight_bit_nll``)
    ``compressed``      zlib's code for the same image, bits (``compressed_bits``): the
                        complexity alone, a baseline for the next
    ``complexity``      code_length - compressed: Serra et al.'s S(x), in bits

    A Gaussian model's likelihood is a density, no code of the image: it gets no
    ``code_length`` and no ``complexity`` (``compressed`` of the 8-bit image stays). The IWAE
    bounds use the same noise (``random_state``).
    """
    neg_elbo, squared_error = anomaly_scores(model, X, y, random_state)
    nll = iwae_nll_per_example(model, X, k, random_state=random_state, y=y)
    scores = {"neg_elbo": neg_elbo, "iwae": nll, "reconstruction": squared_error}
    bernoulli = model.likelihood == "bernoulli"
    compressed = compressed_bits(X, binary and bernoulli)
    if not bernoulli:
        return {**scores, "compressed": compressed}
    coded = nll if binary else iwae_nll_per_example(model, X, k, random_state=random_state,
                                                    y=y, nll=partial(eight_bit_nll, model))
    code_length = coded / math.log(2)
    return {**scores, "code_length": code_length, "compressed": compressed,
            "complexity": code_length - compressed}
