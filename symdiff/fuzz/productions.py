"""The soak generator's productions of scalars and of matrix expressions in a domain (positive, nonzero,
symmetric positive definite): a part of ``generator._Builder``, which supplies the matrix productions they call
(``mat``, ``leaf``, ``dim``, ``pick``, ``atom``, ...) and the random source ``rng``."""

from __future__ import annotations


class ScalarsAndDomains:
    # -- expressions in a domain ----------------------------------------------
    def positive(self, shape, d) -> str:
        """A matrix expression with entries bounded away from 0 (for log, sqrt, fractional powers)."""
        if d <= 0:
            return self.leaf(shape, "positive")
        e = lambda: self.mat(shape, d - 1)
        return self.pick(
            [
                (4, lambda: self.leaf(shape, "positive")),
                (2, lambda: f"exp({e()})"),
                (2, lambda: f"sigmoid({e()})"),
                (2, lambda: f"softplus({e()})"),
                (2, lambda: f"({self.atom(e())}**2 + {self.rng.choice(['1', '0.5'])})"),
                (1, lambda: f"(abs({e()}) + 1)"),
                (1, lambda: f"(1 + relu({e()}))"),
                (1, lambda: f"softmax({e()}, axis={self.rng.randint(0, 1)})"),
                (1, lambda: f"({self.positive(shape, d - 1)} * {self.positive(shape, d - 1)})"),
                (1, lambda: f"(2 ** {self.atom(e())})"),
                (1, lambda: f"({self.positive_scalar(d - 1)} * {self.positive(shape, d - 1)})"),
                (
                    2,
                    lambda: (
                        f"batch_std({self.mat((self.dim(), shape[1]), d - 1)}{self.eps()})" if shape[0] == "1" else None
                    ),
                ),
            ]
        )

    def nonzero(self, shape, d) -> str:
        if d <= 0 or self.rng.random() < 0.4:
            return self.leaf(shape, "nonzero")
        p = self.positive(shape, d)
        return p if self.rng.random() < 0.6 else f"(-{self.atom(p)})"

    def spd(self, r, d) -> str:
        """A symmetric positive definite r x r expression, well conditioned."""
        if d <= 0 or self.rng.random() < 0.5:
            return self.leaf((r, r), "spd")
        k = self.dim()
        e = self.mat((r, k), d - 1)
        return self.pick(
            [
                (3, lambda: f"(tanh({e}) @ tanh({e}).T + eye({r}))"),
                (1, lambda: f"({self.leaf((r, r), 'spd')} + {self.spd(r, d - 1)})"),
                (1, lambda: f"({e} @ {self.atom(e)}.T + {self.rng.choice(['', '3 * '])}eye({r}))"),
            ]
        )

    # -- scalars -------------------------------------------------------------
    def any_shape(self):
        return (self.dim(), self.dim())

    def scalar(self, depth) -> str:
        """A scalar expression (0-d)."""
        if self.stop(depth):
            return self.pick(
                [
                    (3, lambda: self.reduce(depth)),
                    (2, lambda: self.scalar_leaf()),
                    (1, lambda: self.number()),
                    (1, lambda: self.rng.choice(["pi", "e", self.rng.choice(list(self.sizes))])),
                ]
            )
        d = depth - 1
        return self.pick(
            [
                (6, lambda: self.reduce(d)),
                (1, lambda: f"({self.scalar(d)} + {self.scalar(d)})"),
                (1, lambda: f"({self.scalar(d)} * {self.scalar(d)})"),
                (1, lambda: f"({self.scalar(d)} / {self.positive_scalar(d)})"),
                (1, lambda: f"{self.atom(self.scalar(d))}**2"),
                (3, lambda: f"{self.scalar_function()}({self.scalar(d)})"),
                (1, lambda: f"{self.rng.choice(['log', 'sqrt', 'log1p'])}({self.positive_scalar(d)})"),
                (
                    1,
                    lambda: (
                        f"({self.scalar(d)} * {self.scalar_function()}({self.rng.choice(['2', 'pi', *self.sizes])}))"
                    ),
                ),
            ]
        )

    def scalar_function(self) -> str:
        return self.rng.choice(
            [
                "exp",
                "tanh",
                "sigmoid",
                "softplus",
                "erf",
                "abs",
                "relu",
                "gelu",
                "silu",
                "expm1",
                "sign",
                "step",
            ]
        )

    def positive_scalar(self, d) -> str:
        if d <= 0:
            return self.rng.choice([self.scalar_leaf(), "2", "pi", self.rng.choice(list(self.sizes))])
        return self.pick(
            [
                (2, lambda: self.scalar_leaf()),
                (1, lambda: self.rng.choice(["3", "e", self.rng.choice(list(self.sizes))])),
                (2, lambda: f"exp({self.scalar(d - 1)})"),
                (2, lambda: f"({self.atom(self.scalar(d - 1))}**2 + 1)"),
                (2, lambda: f"sum({self.positive(self.any_shape(), d - 1)})"),
                (1, lambda: f"(norm({self.mat(self.any_shape(), d - 1)}) + 0.5)"),
                (1, lambda: f"det({self.spd(self.dim(), d - 1)})"),
            ]
        )

    def reduce(self, d) -> str:
        """A matrix expression reduced to a scalar."""
        shape = self.any_shape()
        e = lambda: self.mat(shape, d)
        r = shape[0]
        ddof = "" if shape == ("1", "1") else self.rng.choice(["", ", ddof=1"])
        return self.pick(
            [
                (8, lambda: f"sum({e()})"),
                (3, lambda: f"sum({self.leaf(shape)} * {e()})"),
                (2, lambda: f"mean({e()})"),
                (1, lambda: f"max({e()})"),
                (1, lambda: f"min({e()})"),
                (1, lambda: f"var({e()}{ddof})"),
                (1, lambda: f"std({e()}{ddof})"),
                (1, lambda: f"norm({e()})"),
                (1, lambda: f"logsumexp({e()})"),
                (2, lambda: f"trace({self.mat((r, r), d)})"),
                (1, lambda: f"det({self.spd(r, d)})"),
                (1, lambda: f"logdet({self.spd(r, d)})"),
            ]
        )
