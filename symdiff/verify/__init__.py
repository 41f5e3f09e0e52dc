"""Verification of gradients against something independent of the engine.

``exact`` expands expressions entry by entry at small concrete sizes and
differentiates each entry with SymPy's scalar ``diff`` (numeric and training
checks come in later modules).
"""

from .exact import ExactResult, check_gradient, exact, explicit, same

__all__ = ["ExactResult", "check_gradient", "exact", "explicit", "same"]
