"""Evaluating a trained model: the ELBO and the IWAE bound, posterior collapse, anomaly and
out-of-distribution scores, disentanglement metrics (``npvae.evaluation.plots`` draws the
figures; it is not imported here, so that ``import npvae`` needs no matplotlib)."""

from .disentanglement import mig, whole_set_decomposition
from .elbo import (active_units, anomaly_scores, evaluate, iwae_nll, iwae_nll_per_example,
                   kl_per_dimension, optimal_gaussian_std, per_example_elbo, predictive_moments)
from .ood import detection_metrics, ood_scores

__all__ = ["evaluate", "per_example_elbo", "iwae_nll", "iwae_nll_per_example",
           "kl_per_dimension", "active_units", "anomaly_scores", "predictive_moments",
           "optimal_gaussian_std", "ood_scores", "detection_metrics", "mig",
           "whole_set_decomposition"]
