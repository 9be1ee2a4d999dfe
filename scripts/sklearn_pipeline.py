"""npvae in scikit-learn: a VAE's latent code against PCA's as features for a classifier, and a
grid search over beta by the ELBO, on scikit-learn's digits.

    python scripts/sklearn_pipeline.py [--dims 2 5 10] [--betas 0.25 0.5 1 2 4] [--epochs 30]
                                       [--jobs 2]

1. For each dimension K, two Pipelines trained on the same 80% of the digits and scored on the
   other 20% (the train/test split of `npvae train --dataset digits`):
       MinMaxScaler(clip=True) -> VAETransformer(latent_dim=K) -> LogisticRegression
       MinMaxScaler(clip=True) -> PCA(K)                        -> LogisticRegression
2. GridSearchCV over beta of MinMaxScaler(clip=True) -> VAETransformer(latent_dim=10), 3-fold on
   the training images, selected by the Pipeline's score: the VAE's mean ELBO (nats per image) on
   the held-out fold. The best beta is refitted and scored on the test images.
"""

import argparse

from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from npvae import VAETransformer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.25, 0.5, 1, 2, 4])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes of the search")
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)  # pixels 0..16
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                        random_state=0)

    def accuracy(reducer):
        pipeline = make_pipeline(MinMaxScaler(clip=True), reducer,
                                 LogisticRegression(max_iter=5000))
        return pipeline.fit(X_train, y_train).score(X_test, y_test)

    print(f"digits, test accuracy of LogisticRegression on K features ({len(X_train)} train, "
          f"{len(X_test)} test images; VAE 64-400-400-K, {args.epochs} epochs)")
    print("   K   VAETransformer     PCA")
    for k in args.dims:
        vae = VAETransformer(latent_dim=k, epochs=args.epochs, random_state=args.seed)
        print(f"{k:4d}   {accuracy(vae):14.3f}   {accuracy(PCA(k, random_state=0)):5.3f}")

    pipeline = make_pipeline(MinMaxScaler(clip=True),
                             VAETransformer(latent_dim=10, epochs=args.epochs,
                                            random_state=args.seed))
    search = GridSearchCV(pipeline, {"vaetransformer__beta": args.betas}, cv=3,
                          n_jobs=args.jobs).fit(X_train)
    print(f"\nGridSearchCV over beta, 3-fold, score = mean ELBO of the held-out fold "
          f"(nats per image, higher is better); K = 10, {args.epochs} epochs")
    print("  beta   mean ELBO   std")
    results = search.cv_results_
    for beta, mean, std in zip(args.betas, results["mean_test_score"], results["std_test_score"]):
        print(f"{beta:6g}   {mean:9.2f}   {std:4.2f}")
    best = search.best_params_["vaetransformer__beta"]
    print(f"best beta {best:g}; refitted on all the training images, its test ELBO is "
          f"{search.score(X_test):.2f} nats per image")


if __name__ == "__main__":
    main()
