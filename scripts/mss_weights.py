"""Print beta-TCVAE's minibatch-stratified-sampling weights as the paper defines them and as the
common code fills them.

    python scripts/mss_weights.py [--batch-size 5] [--dataset-size 10]

Chen et al. (2018, appendix C.2): with M = B - 1, the sample z_i of x_i is scored against the
batch's posteriors with W[i, i] = 1/N, W[i, (i+1) mod B] = (N - M) / (N M) and 1/M elsewhere
(``npvae.models.tcvae.log_importance_weights``). rtqichen/beta-tcvae's
``_log_importance_weight_matrix`` (copied into pythae's BetaTCVAE and into disentangling-vae) writes
them into the flattened matrix with a stride of M + 1 = B, the length of a row: the "diagonal" lands
in column 0 and the "next column" in column 1 of every row, and its fix-up ``W[M - 1, 0]`` gives row
M - 1 the stratum weight twice, so that row does not sum to 1.
"""

import argparse

import numpy as np

from npvae.models.tcvae import log_importance_weights


def common_code_weights(B, N):
    """The matrix as the common code fills it (strides over the flattened matrix), in NumPy."""
    M = B - 1
    W = np.full((B, B), 1 / M)
    W.reshape(-1)[::M + 1] = 1 / N
    W.reshape(-1)[1::M + 1] = (N - M) / (N * M)
    W[M - 1, 0] = (N - M) / (N * M)
    return W


def show(title, W):
    print(title)
    for row in W:
        print("  " + " ".join(f"{w:6.4f}" for w in row) + f"   sum {row.sum():.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=5, help="B (default: 5)")
    parser.add_argument("--dataset-size", type=int, default=10, help="N (default: 10)")
    args = parser.parse_args()
    B, N = args.batch_size, args.dataset_size
    if B < 3 or N < B:
        parser.exit(2, f"{parser.prog}: error: need 3 <= B <= N; got B {B}, N {N}\n")
    M = B - 1
    print(f"B = {B}, N = {N}: 1/N = {1 / N:.4f}, (N - M)/(N M) = {(N - M) / (N * M):.4f}, "
          f"1/M = {1 / M:.4f}")
    show("the paper's W (npvae.models.tcvae.log_importance_weights):",
         np.exp(log_importance_weights(B, N, "mss")))
    show("the common code's W (strides of B over the flattened matrix):",
         common_code_weights(B, N))


if __name__ == "__main__":
    main()
