#!/usr/bin/env bash
# Every number and figure in the README, from the commands that make them. Takes about an hour
# and a half on 2 cores (half an hour of it the disentangling experiments). FASHION is a folder of
# Fashion-MNIST's IDX files (Debian: apt-get install dataset-fashion-mnist, then
# /usr/share/datasets/fashion-mnist). MNIST_T10K, the second argument
# or an environment variable, is a folder holding MNIST's test files t10k-images-idx3-ubyte[.gz]
# and t10k-labels-idx1-ubyte[.gz] (no train files needed), for the out-of-distribution table;
# without it, `npvae anomaly --ood-dataset mnist` downloads MNIST once from OpenML instead.
#     bash scripts/readme_results.sh /usr/share/datasets/fashion-mnist [MNIST_T10K_FOLDER]
set -euo pipefail
USAGE="usage: bash scripts/readme_results.sh FASHION_MNIST_IDX_FOLDER [MNIST_T10K_FOLDER]"
FASHION=${1:?$USAGE}
MNIST_T10K=${2:-${MNIST_T10K:-}}
OUT=${OUT:-runs/readme}
FIGURES=docs/figures
mkdir -p "$OUT" "$FIGURES"

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
if [ -n "$MNIST_T10K" ]; then
  MNIST_OUT=(--ood-data-dir "$MNIST_T10K")
else
  echo "no MNIST_T10K folder given: downloading MNIST from OpenML ($USAGE)" >&2
  MNIST_OUT=(--ood-dataset mnist)
fi
npvae anomaly --run "$OUT/fashion-seed0" "${MNIST_OUT[@]}"
npvae train --dataset mnist-t10k --quiet --out "$OUT/mnist-t10k" | grep -v "^wrote"
npvae anomaly --run "$OUT/mnist-t10k" --ood-data-dir "$FASHION"
npvae train --dataset fashion-mnist --data-dir "$FASHION" --binarize dynamic --quiet \
    --out "$OUT/fashion-binarized" | grep -v "^wrote"
npvae anomaly --run "$OUT/fashion-binarized" "${MNIST_OUT[@]}"
npvae train --dataset mnist-t10k --binarize dynamic --quiet --out "$OUT/mnist-t10k-binarized" \
    | grep -v "^wrote"
npvae anomaly --run "$OUT/mnist-t10k-binarized" --ood-data-dir "$FASHION"
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

# Small experiments (issue 21): learned against fixed Gaussian standard deviations on
# standardised digits (about 2 minutes), and the KL schedules and free bits (about 10 minutes)
python scripts/gaussian_std.py --out "$OUT/gaussian_std"
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

python scripts/gradient_estimators.py --out "$FIGURES/gradient-estimators.png"
python scripts/sklearn_pipeline.py

python scripts/benchmark.py --data-dir "$FASHION" --reference-engine
