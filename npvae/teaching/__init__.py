"""Teaching: the gradient checker, the checks behind ``npvae gradcheck``, the exercise checker,
loading a student's code, and the gradient estimators of exercise 8."""

from .gradcheck import check_layer, check_model, numerical_gradient, rel_error

__all__ = ["rel_error", "numerical_gradient", "check_model", "check_layer"]
