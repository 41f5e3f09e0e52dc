"""The soak's generator: random well-shaped scalar expressions over the whole language, with shapes, sizes and domains."""

from __future__ import annotations

import ast
import random
import re

from .case import Case
from .productions import ScalarsAndDomains

DIM_NAMES = ("q", "n", "p", "m", "k", "r")
MATRIX_NAMES = ("A", "B", "C", "W", "X", "Y", "Z", "U", "V", "M", "x", "y", "z", "u", "v", "w", "b", "g", "G", "H")
# names that generated code uses for itself (outputs, helpers, temporaries, modules, wrappers' arguments)
HOSTILE_NAMES = (
    "f", "out", "loss", "grads", "saved", "like", "torch", "numpy", "h0", "t0", "t1", "grad_output",
    "wanted", "GRADIENTS", "INPUTS", "Function", "Module", "ctx", "self", "forward", "backward", "f_", "y",
)  # fmt: skip
SCALAR_NAMES = ("s", "a", "c", "lam", "alpha", "gamma_", "tau")
LABEL_NAMES = ("y", "t", "labels", "cls", "target")
HOSTILE_DIMS = ("f", "out", "grads", "saved", "like", "h0", "t0", "torch", "numpy", "d", "i", "y")
HOSTILE_RATE = 0.15
ONE_RATE = 0.08  # how often a shape entry is a literal 1 (vectors, 1 x 1)
STRUCTURED_RATE = 0.3  # how often a new square input is declared structured
OUTPUTS_RATE = 0.08  # how often a case has several outputs (a layer's (h, c))
COORDINATES_RATE = 0.2  # how often a case with a structured input asks for the coordinates convention
# the structures an input of a domain may take (positive and nonzero inputs have none: a triangle's zeros)
STRUCTURES = {"any": ("symmetric", "diagonal", "lower", "upper"), "spd": ("spd", "symmetric")}


COMPATIBLE = {
    "any": ("any", "positive", "nonzero", "spd"),
    "positive": ("positive",),
    "nonzero": ("positive", "nonzero"),
}
COMPATIBLE["spd"] = ("spd",)


class _Builder(ScalarsAndDomains):
    """Random expressions of given shapes; records the inputs it creates, their shapes and domains."""

    def __init__(self, rng: random.Random, depth: int):
        self.rng, self.depth = rng, depth
        dims = rng.sample(DIM_NAMES, rng.randint(2, 3))
        if rng.random() < HOSTILE_RATE:
            dims[0] = rng.choice(HOSTILE_DIMS)
        self.sizes = {d: rng.randint(2, 4) for d in dims}
        self.matrices: dict = {}  # name -> shape
        self.domains: dict = {}  # name -> domain
        self.structures: dict = {}  # name -> structure
        self.scalars: list = []
        self.labels: dict = {}  # label column name -> (rows, classes)
        self.taken = set(dims)
        self.made: dict = {}  # shape -> matrix expressions made so far (reused: shared subexpressions)

    # -- names and leaves ----------------------------------------------------
    def _fresh(self, pool) -> str:
        hostile = [n for n in HOSTILE_NAMES if n not in self.taken]
        if hostile and self.rng.random() < HOSTILE_RATE:
            name = self.rng.choice(hostile)
        else:
            free = [n for n in pool if n not in self.taken]
            name = self.rng.choice(free) if free else f"{pool[0]}{len(self.taken)}"
        self.taken.add(name)
        return name

    def dim(self) -> str:
        """A shape entry: mostly a dimension name, sometimes a literal 1 (vectors) or 2 or 3."""
        x = self.rng.random()
        if x < ONE_RATE:
            return "1"
        if x < ONE_RATE + 0.04:
            return self.rng.choice(["2", "3"])
        return self.rng.choice(list(self.sizes))

    def leaf(self, shape, domain="any") -> str:
        """A matrix input of ``shape`` from ``domain``: an existing one half the time, else a new one."""
        if domain == "spd":
            shape = (shape[0], shape[0])
        fits = [n for n, s in self.matrices.items() if s == shape and self.domains.get(n, "any") in COMPATIBLE[domain]]
        if fits and self.rng.random() < 0.5:
            return self.rng.choice(fits)
        name = self._fresh(MATRIX_NAMES)
        self.matrices[name] = shape
        if domain != "any":
            self.domains[name] = domain
        if shape[0] == shape[1] and domain in STRUCTURES and self.rng.random() < STRUCTURED_RATE:
            self.structures[name] = self.rng.choice(STRUCTURES[domain])
        return name

    def label(self, rows, classes) -> str:
        """A label column of ``rows`` class indices in [0, classes): an existing one half the time."""
        fits = [n for n, s in self.labels.items() if s == (rows, classes)]
        if fits and self.rng.random() < 0.5:
            return self.rng.choice(fits)
        name = self._fresh(LABEL_NAMES)
        self.labels[name] = (rows, classes)
        return name

    def scalar_leaf(self) -> str:
        """A real scalar input (drawn positive, in 0.5..2, as ``symdiff check`` draws scalars)."""
        if self.scalars and self.rng.random() < 0.5:
            return self.rng.choice(self.scalars)
        name = self._fresh(SCALAR_NAMES)
        self.scalars.append(name)
        return name

    def pick(self, weighted):
        """fn() of one of the ``(weight, fn)`` pairs, drawn by weight; an fn returning None does not apply."""
        options = list(weighted)
        while options:
            x = self.rng.random() * sum(w for w, _ in options)
            for k, (w, fn) in enumerate(options):
                x -= w
                if x <= 0 or k == len(options) - 1:
                    break
            result = fn()
            if result is not None:
                return result
            del options[k]
        raise AssertionError("no production applies")  # pragma: no cover (leaves always apply)

    def stop(self, depth) -> bool:
        return depth <= 0 or self.rng.random() < (0.1 if depth >= self.depth - 1 else 0.3)

    # -- parameters ----------------------------------------------------------
    def number(self) -> str:
        return self.rng.choice(
            ["2", "3", "0.5", "1.5", "0.25", "-1", "-2.5", "0.1", "0.7978845608028654", "1e-05", "0.044715", "1e3"]
        )

    def shape_text(self, shape) -> str:
        return f"({shape[0]}, {shape[1]})"

    def eps(self) -> str:
        return self.rng.choice(["", ", 0.001", ", eps=0.1", ", 1e-05"])

    def axis(self, axis: int) -> str:
        return str(axis) if self.rng.random() < 0.8 else str(axis - 2)

    # -- matrices ------------------------------------------------------------
    def mat(self, shape, depth) -> str:
        """A matrix expression of ``shape`` (now and then one made before: a shared subexpression)."""
        if self.made.get(shape) and self.rng.random() < 0.1:
            return self.rng.choice(self.made[shape])
        e = self._mat(shape, depth)
        self.made.setdefault(shape, []).append(e)
        return e

    def _mat(self, shape, depth) -> str:
        if self.stop(depth):
            return self.pick([(6, lambda: self.leaf(shape)), (1, lambda: self.constant(shape, depth))])
        r, c = shape
        d = depth - 1
        square = r == c
        return self.pick(
            [
                (6, lambda: self.unary(shape, d)),
                (2, lambda: self.domain_unary(shape, d)),
                (5, lambda: self.binary(shape, d)),
                (2, lambda: self.power(shape, d)),
                (2, lambda: f"({self.scalar(d)} * {self.mat(shape, d)})"),
                (1, lambda: f"({self.mat(shape, d)} / {self.positive_scalar(d)})"),
                (4, lambda: self.matmul(shape, d)),
                (2, lambda: f"{self.atom(self.mat((c, r), d))}.T"),
                (3, lambda: self.reduction(shape, d) if "1" in shape else None),
                (2, lambda: self.normalized(shape, d)),
                (2, lambda: self.norm_layer(shape, d)),
                (
                    1,
                    lambda: (
                        f"(max_mask({self.mat(shape, d)}, axis={self.axis(self.rng.randint(0, 1))}) * {self.mat(shape, d)})"
                    ),
                ),
                (2, lambda: self.extremum(shape, d)),
                (2, lambda: self.linalg(shape, d) if square else None),
                (1, lambda: f"diagonal({self.mat((r, r), d)})" if c == "1" else None),
                (1, lambda: self.projection(shape, d) if square else None),
                (2, lambda: self.selection(shape, d)),
                (2, lambda: self.sliced(shape, d)),
                (1, lambda: self.concatenated(shape, d)),
                (2, lambda: self.labelled(shape, d)),
                (2, lambda: self.reshaped(shape, d)),
                (1, lambda: self.broadcast(shape, d) if "1" not in shape else None),
                (1, lambda: self.constant(shape, d)),
            ]
        )

    def atom(self, text: str) -> str:
        """``text`` in parentheses unless it binds like an atom (a name, a call, a transpose), for ``**`` and ``.T``."""
        node = ast.parse(text, mode="eval").body
        return text if isinstance(node, (ast.Name, ast.Call, ast.Attribute)) else f"({text})"

    def unary(self, shape, d) -> str:
        e = self.mat(shape, d)
        return self.pick(
            [
                (2, lambda: f"exp({e})"),
                (3, lambda: f"tanh({e})"),
                (2, lambda: f"abs({e})"),
                (1, lambda: f"(sign({e}) * {self.mat(shape, d)})"),
                (3, lambda: f"sigmoid({e})"),
                (2, lambda: f"relu({e})"),
                (1, lambda: f"(step({e}) * {self.mat(shape, d)})"),
                (1, lambda: f"expm1({e})"),
                (1, lambda: f"erf({e})"),
                (1, lambda: f"silu({e})"),
                (1, lambda: f"(tie_step({e}) * {self.mat(shape, d)})"),
                (1, lambda: f"gelu({e})"),
                (1, lambda: f'gelu({e}, approximate="tanh")'),
                (1, lambda: f"leaky_relu({e}{self.slope()})"),
                (1, lambda: f"(leaky_step({e}{self.slope()}) * {self.mat(shape, d)})"),
                (1, lambda: f"softplus({e}{self.rng.choice(['', ', 2', ', beta=0.5', ', ' + self.scalar_leaf()])})"),
                (1, lambda: f"clip({e}, {self.bounds()})"),
                (2, lambda: self.learned(e, shape, d)),
                (1, lambda: f"(clip_step({e}, {self.bounds()}) * {self.mat(shape, d)})"),
                (1, lambda: f"(-{self.atom(e)})"),
                (1, lambda: f"unit({e})"),
                (1, lambda: f"logsigmoid({e})"),
                (1, lambda: f"safe_recip({e})"),
            ]
        )

    def learned(self, e, shape, d) -> str:
        """An activation whose parameters are expressions of inputs (a learned slope, beta or bounds, each a
        matrix of ``shape``, a row, a column or a scalar), differentiated in them."""
        return self.pick(
            [
                (2, lambda: f"leaky_relu({e}, {self.operand(shape, d)})"),
                (1, lambda: f"softplus({e}, (1 + sigmoid({self.operand(shape, d)})))"),
                (1, lambda: f"clip({e}, {self.operand(shape, d)}, {self.operand(shape, d)})"),
            ]
        )

    def slope(self) -> str:
        return self.rng.choice(["", ", 0.1", ", a=0.25", ", " + self.scalar_leaf()])

    def bounds(self) -> str:
        return self.rng.choice(["-0.5, 0.5", "-1, 2", "lo=0, hi=1", "-2.5, -0.25"])

    def domain_unary(self, shape, d) -> str:
        return self.pick(
            [
                (3, lambda: f"log({self.positive(shape, d)})"),
                (2, lambda: f"sqrt({self.positive(shape, d)})"),
                (1, lambda: f"log1p({self.positive(shape, d)})"),
            ]
        )

    def operand(self, shape, d) -> str:
        """Something that broadcasts to ``shape``: a matrix of it, a row, a column, or a scalar."""
        r, c = shape
        return self.pick(
            [
                (6, lambda: self.mat(shape, d)),
                (1, lambda: self.mat(("1", c), d) if r != "1" else None),
                (1, lambda: self.mat((r, "1"), d) if c != "1" else None),
                (1, lambda: self.mat(("1", "1"), d) if shape != ("1", "1") else None),
                (1, lambda: self.scalar(d)),
            ]
        )

    def binary(self, shape, d) -> str:
        r, c = shape
        if "1" not in shape and self.rng.random() < 0.1:  # a row and a column broadcast against each other
            left, right = self.mat(("1", c), d), self.mat((r, "1"), d)
        else:
            left, right = self.mat(shape, d), self.operand(shape, d)
        if self.rng.random() < 0.5:
            left, right = right, left
        return self.pick(
            [
                (3, lambda: f"({left} + {right})"),
                (2, lambda: f"({left} - {right})"),
                (3, lambda: f"({left} * {right})"),
                (2, lambda: f"({left} / {self.nonzero(shape, d)})"),
            ]
        )

    def power(self, shape, d) -> str:
        return self.pick(
            [
                (3, lambda: f"{self.atom(self.mat(shape, d))}**{self.rng.choice(['2', '3'])}"),
                (2, lambda: f"{self.atom(self.positive(shape, d))}**{self.rng.choice(['0.5', '1.5', '-0.5', '(-1)'])}"),
                (1, lambda: f"{self.atom(self.nonzero(shape, d))}**{self.rng.choice(['(-1)', '(-2)'])}"),
                (1, lambda: f"{self.rng.choice(['2', 'e', '0.5'])}**{self.atom(self.mat(shape, d))}"),
                (1, lambda: f"{self.atom(self.positive(shape, d))}**{self.atom(self.positive_scalar(d))}"),
                (1, lambda: f"{self.scalar_leaf()}**{self.atom(self.mat(shape, d))}"),
                (1, lambda: f"({self.number()} / {self.nonzero(shape, d)})"),
            ]
        )

    def matmul(self, shape, d) -> str:
        k = self.dim()
        return f"({self.mat((shape[0], k), d)} @ {self.mat((k, shape[1]), d)})"

    def reduction(self, shape, d) -> str:
        """An axis reduction with a kept axis: 1 x c from k x c, or r x 1 from r x k."""
        r, c = shape
        axis = 0 if r == "1" and (c != "1" or self.rng.random() < 0.5) else 1
        source = (self.dim(), c) if axis == 0 else (r, self.dim())
        e = self.mat(source, d)
        ax = self.axis(axis)
        ddof = self.rng.choice(["", ", ddof=1"]) if source[axis] != "1" else ""
        return self.pick(
            [
                (3, lambda: f"sum({e}, axis={ax})"),
                (2, lambda: f"mean({e}, axis={ax})"),
                (1, lambda: f"max({e}, axis={ax})"),
                (1, lambda: f"min({e}, axis={ax})"),
                (1, lambda: f"var({e}, axis={ax}{ddof})"),
                (1, lambda: f"std({e}, axis={ax}{ddof})"),
                (2, lambda: f"logsumexp({e}, axis={ax})"),
                (1, lambda: f"batch_std({e}{self.eps()})" if axis == 0 else None),
            ]
        )

    def normalized(self, shape, d) -> str:
        e, axis = self.mat(shape, d), self.rng.randint(0, 1)
        vector = "1" in shape and self.rng.random() < 0.5
        where = "" if vector else f", axis={self.axis(axis)}"
        return self.rng.choice([f"softmax({e}{where})", f"log_softmax({e}{where})"])

    def norm_layer(self, shape, d) -> str:
        c = shape[1]
        e = self.mat(shape, d)
        gamma, beta = self.mat(("1", c), d - 1), self.mat(("1", c), d - 1)
        return self.pick(
            [
                (2, lambda: f"batchnorm({e}, {gamma}, {beta}{self.eps()})"),
                (1, lambda: f"batch_normalize({e}{self.eps()})"),
                (2, lambda: f"layer_norm({e}, {gamma}, {beta}{self.eps()})"),
            ]
        )

    def extremum(self, shape, d) -> str:
        other = self.mat(shape, d) if self.rng.random() < 0.7 else self.scalar(d)
        return f"{self.rng.choice(['maximum', 'minimum'])}({self.mat(shape, d)}, {other})"

    def linalg(self, shape, d) -> str:
        r = shape[0]
        return self.pick(
            [
                (2, lambda: f"inv({self.spd(r, d)})"),
                (2, lambda: f"matrix_power({self.mat(shape, d)}, {self.rng.choice(['2', '3'])})"),
                (1, lambda: f"matrix_power({self.spd(r, d)}, {self.rng.choice(['-1', '-2'])})"),
                (2, lambda: f"diag({self.mat((r, '1') if self.rng.random() < 0.5 else ('1', r), d)})"),
                (1, lambda: f"({self.mat(shape, d)} + {self.rng.choice(['', '2 * '])}eye({r}))"),
            ]
        )

    def concatenated(self, shape, d) -> str:
        """Two parts stacked along one axis (a dim and 1, or a dim twice), and the block of ``shape`` across them."""
        axis = self.rng.randint(0, 1)
        size = shape[axis]
        if size == "1":
            return None
        head, tail = (size, size) if self.rng.random() < 0.5 else (size, "1")
        parts = [(head, shape[1]), (tail, shape[1])] if axis == 0 else [(shape[0], head), (shape[0], tail)]
        made = ", ".join(self.mat(p, d) for p in parts)
        block = f"[1:1 + {size}, :]" if axis == 0 else f"[:, 1:1 + {size}]"  # across the parts' boundary
        return f"concat([{made}], axis={axis}){block}"

    def labelled(self, shape, d) -> str:
        """Entries at class labels (a column: take along axis 1; a row: along axis 0), or a product with a one-hot
        matrix of labels."""
        r, c = shape
        if c == "1" and self.rng.random() < 0.7:
            k = self.dim()
            return f"take({self.mat((r, k), d)}, {self.label(r, k)}, axis={self.axis(1)})"
        if r == "1" and self.rng.random() < 0.7:
            k = self.dim()
            return f"take({self.mat((k, c), d)}, {self.label(c, k)}, axis={self.axis(0)})"
        return f"(one_hot({self.label(r, c)}, {c}) * {self.mat(shape, d)})"

    def sliced(self, shape, d) -> str:
        """A block of a larger matrix (a shape entry plus 1 or 2, or twice it: packed weights), or a padding."""
        r, c = shape
        axis = self.rng.randint(0, 1)
        grown = self.rng.choice([f"{shape[axis]} + 1", f"{shape[axis]} + 2", f"2 * {shape[axis]}"])
        source = (grown, c) if axis == 0 else (r, grown)
        start = self.rng.choice(["0", "1"]) if "+" in grown else self.rng.choice(["0", shape[axis]])
        block = f"{start}:{start} + {shape[axis]}" if start != "0" else f":{shape[axis]}"
        index = f"[{block}, :]" if axis == 0 else f"[:, {block}]"
        if self.rng.random() < 0.15:  # the same block as a part of a split
            extra = grown.split(" + ")[1] if "+" in grown else shape[axis]  # what the source has beyond the block
            rest = extra if start == "0" else str(int(extra) - 1) if "+" in grown else "0"
            sizes = [start, shape[axis], rest] if start != "0" else [shape[axis], rest]
            sizes = [x for x in sizes if x != "0"]
            return f"split({self.mat(source, d)}, ({', '.join(sizes)},), axis={axis})[{sizes.index(shape[axis])}]"
        if self.rng.random() < 0.2:  # the adjoint, in the language
            at = f"({start}, 0)" if axis == 0 else f"(0, {start})"
            return f"pad({self.mat(shape, d)}, {at}, ({source[0]}, {source[1]}))[{':' if axis else block}, {block if axis else ':'}]"
        return f"{self.atom(self.mat(source, d))}{index}"

    def comparison(self, shape, d) -> str:
        """A 0/1 mask of ``shape``: two expressions compared (one may be a row, a column or a number)."""
        op = self.rng.choice([">", ">=", "<", "<=", "==", "!="])
        right = self.operand(shape, d) if self.rng.random() < 0.7 else self.number()
        return f"({self.mat(shape, d)} {op} {right})"

    def selection(self, shape, d) -> str:
        mask = self.comparison(shape, d)
        return self.pick(
            [
                (3, lambda: f"where({mask}, {self.mat(shape, d)}, {self.operand(shape, d)})"),
                (1, lambda: f"where({mask}, {self.mat(shape, d)}, {self.rng.choice(['0', '-3'])})"),
                # -1e30 masks what a softmax follows (causal attention); elsewhere no float64 code computes a
                # normalization of a row of -1e30 to the digit (its mean is off by 1e14)
                (1, lambda: f"softmax(where({mask}, {self.mat(shape, d)}, -1e30), axis={self.rng.randint(0, 1)})"),
                (2, lambda: f"({mask} * {self.mat(shape, d)})"),
            ]
        )

    def projection(self, shape, d) -> str:
        e = self.mat(shape, d)
        offset = self.rng.choice(["", "", ", 1", ", -1", ", k=2"])
        return self.rng.choice([f"sym({e})", f"tril({e}{offset})", f"triu({e}{offset})"])

    def reshaped(self, shape, d) -> str:
        r, c = shape
        return self.pick(
            [
                (2, lambda: f"reshape({self.mat((c, r), d)}, {self.shape_text(shape)})"),
                (1, lambda: f"squeeze({self.mat(('1', r), d)}, 0)" if c == "1" else None),
                (1, lambda: f"squeeze({self.mat((r, '1'), d)}, {self.axis(1)})" if c == "1" else None),
                (1, lambda: f"unsqueeze({self.mat((c, '1'), d)}, 0)" if r == "1" else None),
                (1, lambda: f"unsqueeze({self.mat((r, '1'), d)}, 1)" if c == "1" else None),
            ]
        )

    def broadcast(self, shape, d) -> str:
        r, c = shape
        source = self.rng.choice([("1", c), (r, "1")])
        arg = self.mat(source, d) if self.rng.random() < 0.8 else self.scalar(d)
        return f"broadcast_to({arg}, {self.shape_text(shape)})"

    def constant(self, shape, d) -> str:
        """A constant matrix, with something to make it an expression of the inputs."""
        r, c = shape
        e = self.leaf(shape) if d <= 0 else self.mat(shape, d)
        return self.pick(
            [
                (2, lambda: f"({e} + ones({self.shape_text(shape)}))"),
                (1, lambda: f"maximum({e}, zeros({self.shape_text(shape)}))"),
                (1, lambda: f"({e} - 2 * eye({r}))" if r == c else None),
                (1, lambda: f"({e} * eye({r}))" if r == c else None),
            ]
        )

    def top(self) -> str:
        """The output: a scalar expression (or a 1 x 1 matrix, as x.T @ A @ x is), or now and then several outputs,
        matrices and scalars, as a layer returns them ("h, c")."""
        if self.rng.random() < OUTPUTS_RATE:
            made = [
                self.mat(self.any_shape(), self.depth - 1) if self.rng.random() < 0.7 else self.scalar(self.depth - 1)
                for _ in range(self.rng.randint(2, 3))
            ]
            return ", ".join(made)
        if self.rng.random() < 0.1:
            k = self.dim()
            return f"({self.mat(('1', k), self.depth - 1)} @ {self.mat((k, '1'), self.depth - 1)})"
        return self.scalar(self.depth)


def _used_names(expr: str) -> set:
    return {node.id for node in ast.walk(ast.parse(expr, mode="eval")) if isinstance(node, ast.Name)}


def generate(seed: int, depth: int = 4) -> Case:
    """A random well-shaped scalar expression (with its shapes, sizes and domains) from ``seed``."""
    rng = random.Random(seed)
    for _ in range(100):
        b = _Builder(rng, depth)
        expr = b.top()
        names = _used_names(expr)
        shapes = {n: s for n, s in b.matrices.items() if n in names}
        labels = {n: (rows, "1") for n, (rows, _) in b.labels.items() if n in names}
        variables, shapes = bool(shapes), shapes | labels
        dims = {x for s in shapes.values() for entry in s for x in re.findall(r"[A-Za-z_]\w*", entry)}
        if variables and names & set(b.sizes) <= dims:  # every dimension named is one some input has
            sizes = {k: v for k, v in b.sizes.items() if k in dims}
            domains = {n: v for n, v in b.domains.items() if n in shapes}
            structures = {n: v for n, v in b.structures.items() if n in shapes}
            convention = "coordinates" if structures and rng.random() < COORDINATES_RATE else "structured"
            structures = structures or None
            return Case(
                expr, shapes, sizes, domains, seed, structures=structures, convention=convention, labels=tuple(labels)
            )
    raise RuntimeError(f"no well-formed expression from seed {seed}")  # pragma: no cover


def functions_used(expr: str) -> set:
    """The language functions ``expr`` calls."""
    tree = ast.parse(expr, mode="eval")
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
