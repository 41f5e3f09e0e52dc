"""Numeric checks in a structure: values drawn in it, directions along it, and torch parametrizations of it.

A structured variable (``ops/structure.py``) is checked where it lives: its
values are drawn in its subspace (an spd one positive definite), finite
differences move along the directions of its free entries (E_ij + E_ji for a
symmetric matrix, E_ij for a triangular one), and the autograd reference
differentiates the reference evaluator through a parametrization written here
directly in torch: f(P(A)) at A = S for the structured convention (P the
projection: (A + A^T)/2, the diagonal, tril, triu), f(S(theta)) in the free
entries theta for the coordinates convention.
"""

from __future__ import annotations

import numpy as np

PROJECTIONS = {  # numpy, on one matrix
    "symmetric": lambda a: (a + a.T) / 2,
    "spd": lambda a: (a + a.T) / 2,
    "diagonal": lambda a: np.diag(np.diag(a)),
    "lower": np.tril,
    "upper": np.triu,
}


PARAMETRIZED = {  # how reports write the structured parametrization
    "symmetric": "(A + A^T)/2",
    "spd": "(A + A^T)/2",
    "diagonal": "diag(diagonal(A))",
    "lower": "tril(A)",
    "upper": "triu(A)",
}


def project(a: np.ndarray, structure: str) -> np.ndarray:
    """``a`` projected onto ``structure``'s subspace (Frobenius-orthogonally)."""
    return PROJECTIONS[structure](np.asarray(a, dtype=np.float64))


def free_indices(n: int, structure: str) -> list[tuple[int, int]]:
    """The free entries of an n x n matrix of ``structure``, in row-major order."""
    return [
        (i, j)
        for i in range(n)
        for j in range(n)
        if (i <= j if structure in ("symmetric", "spd", "upper") else i >= j if structure == "lower" else i == j)
    ]


def direction(n: int, structure: str, i: int, j: int) -> np.ndarray:
    """The direction in which free entry (i, j) moves the matrix: E_ij, plus E_ji for a symmetric one."""
    d = np.zeros((n, n))
    d[i, j] = 1.0
    if structure in ("symmetric", "spd"):
        d[j, i] = 1.0
    return d


def as_structured(gradient: np.ndarray, structure: str, convention: str) -> np.ndarray:
    """A gradient in ``convention`` as the structured one: a coordinates gradient C of a symmetric matrix is
    (C + diag(C)) / 2 (each off-diagonal coordinate moves two entries); the others are already."""
    g = np.asarray(gradient, dtype=np.float64)
    if convention == "coordinates" and structure in ("symmetric", "spd"):
        return (g + np.diag(np.diag(g))) / 2
    return g


class Parametrization:
    """The torch parametrization of a structured variable that autograd differentiates through.

    ``parameter(value)`` is the leaf, ``matrix(parameter)`` the variable built from it, and
    ``gradient(grad of the leaf)`` the gradient laid out as the convention says."""

    def __init__(self, structure: str, convention: str, n: int):
        self.structure, self.convention, self.n = structure, convention, n
        self.indices = free_indices(n, structure)

    def describe(self) -> str:
        """How reports name it."""
        if self.convention == "coordinates":
            return f"the {self.structure} matrix built from its {len(self.indices)} free entries"
        return f"f({PARAMETRIZED[self.structure]}) at A = S"

    def parameter(self, value):
        if self.convention != "coordinates":
            return value
        rows, cols = zip(*self.indices)
        return value[list(rows), list(cols)]

    def matrix(self, parameter):
        import torch

        if self.convention != "coordinates":  # f(P(A)): its gradient in A is P(G)
            if self.structure in ("symmetric", "spd"):
                return (parameter + parameter.mT) / 2
            if self.structure == "diagonal":
                return torch.diag_embed(torch.diagonal(parameter))
            return torch.tril(parameter) if self.structure == "lower" else torch.triu(parameter)
        rows, cols = (torch.tensor(k, device=parameter.device) for k in zip(*self.indices))
        filled = torch.zeros((self.n, self.n), dtype=parameter.dtype, device=parameter.device)
        filled = filled.index_put((rows, cols), parameter)
        if self.structure in ("symmetric", "spd"):  # the upper triangle mirrored
            filled = filled + filled.mT - torch.diag_embed(torch.diagonal(filled))
        return filled

    def gradient(self, grad) -> np.ndarray:
        grad = np.asarray(grad.detach().cpu() if hasattr(grad, "detach") else grad, dtype=np.float64)
        if self.convention != "coordinates":
            return grad
        out = np.zeros((self.n, self.n))
        for (i, j), g in zip(self.indices, grad):
            out[i, j] = g
            if self.structure in ("symmetric", "spd"):
                out[j, i] = g
        return out
