"""Chapter 3: linear regression, fitted three ways, with its statistics and its penalties."""

from llm_anatomy.linear.features import add_constant, polynomial_features, standardize
from llm_anatomy.linear.inference import OLSResult, fit_ols
from llm_anatomy.linear.model import LinearModel
from llm_anatomy.linear.penalized import lasso, ridge, soft_threshold
from llm_anatomy.linear.saving import load_model, save_model
from llm_anatomy.linear.solve import fit_gradient_descent, fit_normal_equations, fit_qr

__all__ = [
    "LinearModel",
    "OLSResult",
    "add_constant",
    "fit_gradient_descent",
    "fit_normal_equations",
    "fit_ols",
    "fit_qr",
    "lasso",
    "load_model",
    "polynomial_features",
    "ridge",
    "save_model",
    "soft_threshold",
    "standardize",
]
