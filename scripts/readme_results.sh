#!/usr/bin/env bash
# Regenerates every number and figure of the README and of the docs pages (docs/*.md), from the
# commands that make them, and copies the figures into docs/figures/. Takes about an hour and a
# half on 2 cores (half an hour of it the disentangling experiments). FASHION is a folder of
# Fashion-MNIST's IDX files (Debian: apt-get install dataset-fashion-mnist, then
# /usr/share/datasets/fashion-mnist). MNIST_T10K, the second argument or an environment
# variable, is a folder holding MNIST's test files t10k-images-idx3-ubyte[.gz] and
# t10k-labels-idx1-ubyte[.gz] (no train files needed), for the out-of-distribution table; by
# default, the copy of MNIST's test set that ships in npvae/data/mnist_t10k. Run it from the
# root of the checkout:
#     bash scripts/readme_results.sh /usr/share/datasets/fashion-mnist [MNIST_T10K_FOLDER]
# Which page quotes what: README.md and docs/RESULTS.md (the results table and figures, the
# beta sweep, the conditional VAE, the IWAE study), docs/LIKELIHOOD.md (anomalies, OOD,
# uncertainty), docs/LIBRARY.md (scikit-learn, KL schedules, Gaussian stds), docs/COMMAND_LINE.md
# (divergence), docs/DISENTANGLING.md, docs/EXERCISES.md and docs/SOLUTIONS.md (checker output,
# estimators), docs/PERFORMANCE.md (the benchmark, last).
set -euo pipefail
USAGE="usage: bash scripts/readme_results.sh FASHION_MNIST_IDX_FOLDER [MNIST_T10K_FOLDER]"
FASHION=${1:?$USAGE}
MNIST_T10K=${2:-${MNIST_T10K:-npvae/data/mnist_t10k}}
OUT=${OUT:-runs/readme}
FIGURES=docs/figures
mkdir -p "$OUT" "$FIGURES"

# The gradients (README, docs/MATHS.md): every gradient against finite differences, and the
# library held to reference.py (and reference.py to PyTorch's autograd, when it is installed)
npvae gradcheck
python -m pytest -q -p no:cacheprovider tests -k \
    "library_equals_the_reference or adam_equals_the_reference or reference_equals_autograd"

for seed in 0 1 2; do   # the results table: 10 epochs of the classic model, three seeds
  npvae train --dataset fashion-mnist --data-dir "$FASHION" --seed $seed --quiet \
      --out "$OUT/fashion-seed$seed" | grep -v "^wrote"
done
npvae evaluate --run "$OUT/fashion-seed0" --iwae-k 1000
npvae interpolate --run "$OUT/fashion-seed0"
npvae latent --run "$OUT/fashion-seed0"
for f in samples reconstructions loss interpolation kl_per_dimension; do
  cp "$OUT/fashion-seed0/$f.png" "$FIGURES/fashion-$f.png"
done

# What the likelihood knows: the Fashion-MNIST model scores MNIST's test set (ood.json, ood.png),
# the other direction (an MNIST model, trained on the shipped test set's 8,000, scores
# Fashion-MNIST's test set), both directions again with models trained --binarize dynamic, and
# what the model is unsure of (uncertainty.png, least_most_sure.png)
MNIST_OUT=(--ood-data-dir "$MNIST_T10K")
npvae anomaly --run "$OUT/fashion-seed0" "${MNIST_OUT[@]}"
npvae train --dataset mnist-t10k --quiet --out "$OUT/mnist-t10k" | grep -v "^wrote"
npvae anomaly --run "$OUT/mnist-t10k" --ood-data-dir "$FASHION"
npvae train --dataset fashion-mnist --data-dir "$FASHION" --binarize dynamic --quiet \
    --out "$OUT/fashion-binarized" | grep -v "^wrote"
npvae anomaly --run "$OUT/fashion-binarized" "${MNIST_OUT[@]}"
npvae train --dataset mnist-t10k --binarize dynamic --quiet --out "$OUT/mnist-t10k-binarized" \
    | grep -v "^wrote"
npvae anomaly --run "$OUT/mnist-t10k-binarized" --ood-data-dir "$FASHION"
# Likelihood Regret's AUROC by Adam steps, its cost and its rank correlation with the
# reconstruction error, both directions on grey levels (2,000 images of each set)
python scripts/regret_study.py --run "$OUT/fashion-seed0" "${MNIST_OUT[@]}"
python scripts/regret_study.py --run "$OUT/mnist-t10k" --ood-data-dir "$FASHION"
npvae uncertainty --run "$OUT/fashion-seed0"
for f in ood uncertainty least_most_sure; do
  cp "$OUT/fashion-seed0/$f.png" "$FIGURES/fashion-$f.png"
done

npvae train --dataset fashion-mnist --data-dir "$FASHION" --latent-dim 2 --quiet \
    --out "$OUT/fashion-2d" | grep -v "^wrote"
npvae latent --run "$OUT/fashion-2d"
cp "$OUT/fashion-2d/latent.png" "$FIGURES/fashion-2d-latent.png"
cp "$OUT/fashion-2d/manifold.png" "$FIGURES/fashion-2d-manifold.png"

npvae train --dataset digits --epochs 30 --quiet --out "$OUT/digits" | grep -v "^wrote"
npvae evaluate --run "$OUT/digits" --iwae-k 1000
npvae train --dataset digits --epochs 30 --conditional --quiet --out "$OUT/digits-cvae" | grep -v "^wrote"
npvae sample --run "$OUT/digits-cvae"
cp "$OUT/digits-cvae/samples_by_class.png" "$FIGURES/digits-cvae-samples.png"
npvae train --dataset digits --epochs 30 --holdout-class 0 --quiet --out "$OUT/digits-no0" | grep -v "^wrote"
npvae anomaly --run "$OUT/digits-no0"
cp "$OUT/digits-no0/anomaly.png" "$FIGURES/digits-anomaly.png"
python scripts/anomaly_digits.py

# Small experiments (docs/LIBRARY.md): learned against fixed Gaussian standard deviations on
# standardised digits (about 2 minutes), and the KL schedules and free bits (about 10 minutes)
python scripts/gaussian_std.py --out "$OUT/gaussian_std"
# the trap of standardised pixels: 100 epochs, seed 2
python scripts/gaussian_std.py --epochs 100 --seeds 2 --out "$OUT/gaussian_std-100-seed2"
# on pixels in [0, 1]: a fixed std of 1 collapses the posterior, the learned std does not
npvae train --dataset digits --likelihood gaussian --gaussian-std 1 --epochs 30 --quiet \
    --out "$OUT/digits-gaussian-std1" | grep -v "^wrote"
npvae train --dataset digits --likelihood gaussian --epochs 30 --quiet \
    --out "$OUT/digits-gaussian-learned" | grep -v "^wrote"
# the learned std after 5 epochs beside its optimum, with the default --log-std-scale and 50;
# two learning rates whose first epochs blow up and recover (the divergence paragraph)
npvae train --dataset digits --likelihood gaussian --epochs 5 --quiet --out "$OUT/std-scale10" \
    | grep -v "^wrote"
npvae train --dataset digits --likelihood gaussian --epochs 5 --log-std-scale 50 --quiet \
    --out "$OUT/std-scale50" | grep -v "^wrote"
npvae train --dataset digits --lr 0.05 --epochs 3 --out "$OUT/lr0.05" | grep "^epoch"
npvae train --dataset digits --warmup 2 --lr 0.1 --epochs 6 --out "$OUT/warmup-lr0.1" \
    | grep "^epoch"
python scripts/kl_schedules.py --out "$OUT/kl"

python scripts/beta_sweep.py --out "$OUT/beta_sweep"
cp "$OUT/beta_sweep/rate_distortion.png" "$FIGURES/digits-rate-distortion.png"
cp "$OUT/beta_sweep/samples_by_beta.png" "$FIGURES/digits-samples-by-beta.png"

# Disentangling (15.5 minutes on 2 cores): the table, the KL decomposition beside its minibatch
# estimates, and the traversal figures (docs/figures/sprites-traversal-*.png); FactorVAE with
# each gamma and discriminator learning rate (about 3 minutes each); the MSS weights
python scripts/disentanglement.py --out "$OUT/disentanglement" --figures "$FIGURES"
for gamma in 35 10; do
  for lr in 1e-4 1e-3 3e-3; do
    python scripts/disentanglement.py --models FactorVAE --factorvae-gamma $gamma --disc-lr $lr \
        --out "$OUT/factorvae-gamma$gamma-lr$lr" | sed -n 1,9p
  done
done
python scripts/mss_weights.py

# The exercises and their solutions: the checker's reports on a right and a wrong KL and on a
# right Adam (exit status 1 for the wrong one), exercise 8's figure, the Monte Carlo KL
npvae gradcheck --exercise kl tests/answers/right.py:MyKL
npvae gradcheck --exercise kl tests/answers/wrong.py:KLWithoutHalf || true
npvae gradcheck --exercise adam tests/answers/right.py:MyAdam
python scripts/gradient_estimators.py --out "$FIGURES/gradient-estimators.png"
python -c '
import numpy as np
from npvae.nn.losses import kl_normal
from npvae.teaching.gradient_estimators import kl_monte_carlo
mu, logvar = np.array([0.5, -1.0, 2.0]), np.array([0.3, -2.0, 1.0])
estimate, se = kl_monte_carlo(mu, logvar, n_samples=400_000, random_state=0)
closed = kl_normal(mu[None], logvar[None])[0][0]
print(f"Monte Carlo KL {estimate:.4f} +- {se:.4f} (400,000 samples), closed form {closed:.4f}")'

# Several draws per image (docs/RESULTS.md): the gradient estimators' SNR as K grows, and ELBO
# against IWAE training, on the shipped MNIST test set and on Fashion-MNIST
python scripts/iwae_study.py --fashion-dir "$FASHION" --out "$OUT/iwae"
cp "$OUT/iwae/snr.png" "$FIGURES/iwae-snr.png"
npvae gradcheck --exercise iwae tests/answers/right.py:MyIWAE

# scikit-learn (docs/LIBRARY.md): both tables with seed 0, the VAE's accuracies with seeds 1, 2
python scripts/sklearn_pipeline.py
for seed in 1 2; do
  python scripts/sklearn_pipeline.py --seed $seed --betas 1 | sed -n 1,5p
done

python scripts/benchmark.py --data-dir "$FASHION" --reference-engine
