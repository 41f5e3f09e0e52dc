r"""Integer labels: ``one_hot(y, C)`` and ``take(E, y, axis)`` (torch's ``gather``), each with its card.

A label column y (an n x 1 input) holds class indices in [0, C): it is data, not a variable, so nothing has a
gradient with respect to it and the matrices built from it are constants. ``take(E, y, axis=1)`` is the entry
each row of E has in the column y names, $E_{i, y_i}$ (n x 1); its adjoint puts the cotangent back into those
entries, $\bar E = \operatorname{onehot}(y) \odot \bar Y \mathbf{1}^T$. So ``-mean(take(log_softmax(Z, axis=1),
y, axis=1))`` is ``F.cross_entropy(Z, y)``. Generated code takes y as torch's class indices do, an int64 tensor of
shape (n,) or (n, 1).
"""

from __future__ import annotations

import sympy as sp

from ..errors import ShapeError, SymdiffError
from .card import AXIS, MATRIX, MatrixOp, call, language, register, shape_text, total
from .linear import broadcast, transpose
from .products import hadamard

INDEX_DTYPE = "int64"  # what torch.gather and F.cross_entropy take as class indices


def require_labels(y, op: str):
    """``y`` if it is an input column (n x 1) that can hold class indices, else a ShapeError naming ``op``."""
    explicit = isinstance(y, sp.MatrixBase) and all(v.is_Integer for v in y)  # the exact check's class indices
    if not (isinstance(y, sp.MatrixSymbol) or explicit) or y.shape[1] != 1:
        raise ShapeError(
            f"{op}: the labels must be an input column (n x 1) of class indices, got {y} ({shape_text(y)})"
        )
    if getattr(y, "declared", None):
        raise ShapeError(f"{op}: the labels {y} are declared with a structure; a label column has none")
    return y


def require_classes(classes, op: str):
    classes = sp.sympify(classes)
    if not (classes.is_integer and classes.is_positive):
        raise ShapeError(f"{op}: the number of classes must be a positive integer or a dim, got {classes}")
    return classes


class OneHot(MatrixOp):
    """The n x C matrix with a 1 in row i at column y_i and 0 elsewhere (labels in [0, C), which take and torch's
    one_hot require: each row sums to 1)."""

    sums_to_one = 1  # the axis along which every sum is 1 (``linear.axis_sum`` and ``sum_all`` use it)

    def __new__(cls, labels, classes):
        return super().__new__(cls, require_labels(labels, "one_hot"), require_classes(classes, "one_hot"))

    labels = property(lambda self: self.args[0])
    classes = property(lambda self: self.args[1])
    shape = property(lambda self: (self.labels.shape[0], self.classes))

    def _entry(self, i, j, **kwargs):
        return sp.KroneckerDelta(self.labels[i, 0], j)

    def _sympystr(self, printer):
        return f"one_hot({printer._print(self.labels)}, {printer._print(self.classes)})"

    def _numpycode(self, printer):
        return call(printer, "numpy", "one_hot", printer._print(self.labels), printer._print(self.classes))

    def _torchcode(self, printer):  # like: a tensor of the computation, whose dtype and device it takes
        return call(printer, "torch", "one_hot", printer._print(self.labels), printer._print(self.classes), "like")

    def _latex(self, printer):
        return rf"\operatorname{{onehot}}_{{{printer._print(self.classes)}}}\left({printer._print(self.labels)}\right)"


def grad_one_hot(ans, g, labels, classes):
    r"""$Y = \operatorname{onehot}(y)$ is constant: class indices have no gradient."""
    return None, None


register(
    OneHot,
    "One-hot matrix of labels",
    "one_hot(y, C)",
    OneHot,
    grad_one_hot,
    helpers={  # a label outside [0, C) raises (numpy's IndexError, torch's one_hot), as F.cross_entropy does
        "numpy": {
            "one_hot": "def one_hot(labels, classes):\n    return numpy.eye(classes)[class_indices(labels)]",
            "class_indices": "def class_indices(labels):\n"
            "    flat = numpy.reshape(labels, -1)\n"
            "    if flat.size and flat.min() < 0:  # numpy would count from the end, as torch does not\n"
            '        raise IndexError(f"class labels must be in [0, C); got {flat.min()}")\n'
            "    return flat",
        },
        "torch": {
            "one_hot": "def one_hot(labels, classes, like):\n"
            "    return torch.nn.functional.one_hot(labels.reshape(-1), classes).to(like)"
        },
    },
)


class Take(MatrixOp):
    """The column of E's entries at the labels, one per row: $Y_i = E_{i, y_i}$ (n x 1)."""

    def __new__(cls, arg, labels):
        labels = require_labels(labels, "take")
        if arg.shape[0] != labels.shape[0]:
            raise ShapeError(f"take along axis 1 needs a label per row: E is {shape_text(arg)}, y {shape_text(labels)}")
        return super().__new__(cls, arg, labels)

    arg = property(lambda self: self.args[0])
    labels = property(lambda self: self.args[1])
    shape = property(lambda self: (self.arg.shape[0], sp.Integer(1)))

    def _entry(self, i, j, **kwargs):
        label = self.labels[i, 0]
        if label.is_Integer:
            return self.arg[i, label]
        return total(lambda k: sp.KroneckerDelta(label, k) * self.arg[i, k], self.arg.shape[1])

    def _sympystr(self, printer):
        return f"take({printer._print(self.arg)}, {printer._print(self.labels)}, axis=1)"

    def _numpycode(self, printer):
        y = f"{call(printer, 'numpy', 'class_indices', printer._print(self.labels))}[:, None]"
        return f"{printer._module_format('numpy.take_along_axis')}({printer._print(self.arg)}, {y}, axis=1)"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.gather')}({printer._print(self.arg)}, 1, {printer._print(self.labels)}.reshape(-1, 1))"

    def _latex(self, printer):
        return (
            rf"\left[\left({printer._print(self.arg)}\right)_{{i,\, {printer._print(self.labels)}_{{i}}}}\right]_{{i}}"
        )


def take(arg, labels, axis):
    """The entries of ``arg`` at the labels: along axis 1, E[i, y_i] (a column); along axis 0, E[y_j, j] (a row)."""
    if int(axis) == 0:
        if arg.shape[1] != labels.shape[0]:
            raise ShapeError(
                f"take along axis 0 needs a label per column: E is {shape_text(arg)}, y {shape_text(labels)}"
            )
        return transpose(Take(transpose(arg), labels))
    return Take(arg, labels)


def grad_take(ans, g, arg, labels):
    r"""$Y_i = E_{i, y_i}$: $\bar E = \operatorname{onehot}(y) \odot \bar Y \mathbf{1}^T$, each row's cotangent at its
    label's column; the labels have none."""
    rows, classes = arg.shape
    return hadamard(broadcast(g, rows, classes), OneHot(labels, classes)), None


register(Take, "Entries at labels (gather)", "take(E, y, axis)", Take, grad_take)
language("one_hot", ("y", "classes"), kinds={"y": MATRIX})(OneHot)
language("take", ("x", "labels", "axis"), kinds={"x": MATRIX, "labels": MATRIX, "axis": AXIS})(take)


def label_classes(expr) -> dict:
    """label column -> its number of classes, for every label column of ``expr``; a SymdiffError when one is also
    used as a value (its entries are indices, not numbers to compute with) or indexes two numbers of classes."""
    found: dict = {}
    every = _nodes(expr)
    for node in every:
        if isinstance(node, (OneHot, Take)):
            classes = node.classes if isinstance(node, OneHot) else node.arg.shape[1]
            if found.setdefault(node.labels, classes) != classes:
                raise ShapeError(
                    f"the labels {node.labels} index {found[node.labels]} classes in one place and {classes} in another"
                )
    if not found:
        return found
    for node in every:
        if isinstance(node, (OneHot, Take)):
            continue
        misused = [a for a in node.args if a in found]
        if misused:
            raise SymdiffError(
                f"{misused[0]} holds class labels (in one_hot or take) and is also used as numbers elsewhere in the "
                "expression: give the values another name"
            )
    return found


def _nodes(expr) -> list:
    """Every distinct node of ``expr`` once (a deep network repeats its subtrees many times)."""
    seen, pending = {}, [expr]  # a dict: the order is the walk's, not the hash seed's
    while pending:
        node = pending.pop()
        if node not in seen and isinstance(node, sp.Basic):
            seen[node] = None
            pending.extend(reversed(node.args))
    return list(seen)
