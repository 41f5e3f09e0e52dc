"""Shape ops: reshapes (squeeze, unsqueeze), a square matrix's diagonal, and the diagonal matrix of a vector.

Each is linear: its rule moves the cotangent back to the input's shape (a
reshape's back to the input's, a diagonal's into a diagonal matrix).
"""

from __future__ import annotations

import sympy as sp
from sympy import Integer
from sympy.matrices.expressions.diagonal import DiagMatrix as SympyDiagMatrix

from ..errors import ShapeError
from .card import (
    AXIS,
    DIAGONAL,
    MATRICES,
    MATRIX,
    OFFSETS,
    SHAPE,
    SIZES,
    MatrixOp,
    atom,
    language,
    register,
    require_matrix,
    shape_text,
    written_out,
)
from .constants import ZeroMatrix, shape_args, split_coeff
from .linear import broadcast, matmul, require_square, scale, transpose
from .products import hadamard


class Reshape(MatrixOp):
    """The same entries in row-major order with a new shape (squeeze / unsqueeze)."""

    def __new__(cls, arg, rows, cols):
        arg = require_matrix(arg, "reshape")
        rows, cols = sp.sympify(rows), sp.sympify(cols)
        if sp.simplify(arg.shape[0] * arg.shape[1] - rows * cols).is_zero is False:  # sympy.cse may name dims
            raise ShapeError(f"cannot reshape a {shape_text(arg)} matrix to {rows} x {cols}")
        return super().__new__(cls, arg, rows, cols)

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.args[1], self.args[2]))

    def _entry(self, i, j, **kwargs):
        flat = i * self.shape[1] + j
        cols = self.arg.shape[1]
        return self.arg[flat // cols, flat % cols]

    def _sympystr(self, printer):
        return f"reshape({printer._print(self.arg)}, {shape_args(printer, self)})"

    def _numpycode(self, printer):
        return f"{atom(printer, self.arg)}.reshape{shape_args(printer, self)}"

    _torchcode = _numpycode

    def _latex(self, printer):
        rows, cols = printer._print(self.shape[0]), printer._print(self.shape[1])
        return rf"\operatorname{{reshape}}_{{{rows} \times {cols}}}\left({printer._print(self.arg)}\right)"


@language("reshape", ("x", "shape"), kinds={"x": MATRIX, "shape": SHAPE})
def _reshape_to(x, shape):
    return reshape(x, *shape)


def reshape(m, rows, cols):
    """Row-major reshape; between a column and a row vector it is a transpose."""
    rows, cols = sp.sympify(rows), sp.sympify(cols)
    if tuple(m.shape) == (rows, cols):
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, reshape(core, rows, cols))
    if isinstance(m, Reshape):
        return reshape(m.arg, rows, cols)
    if 1 in m.shape and (rows, cols) == tuple(reversed(m.shape)):
        return transpose(m)
    return Reshape(m, rows, cols)


def grad_reshape(ans, g, a, rows, cols):
    r"""$Y = \operatorname{reshape}(A)$: $\bar A = \operatorname{reshape}(\bar Y)$ to $A$'s shape."""
    return reshape(g, *a.shape), None, None


register(Reshape, "Reshape", "reshape(A, (r, c)), squeeze(v, 0), unsqueeze(x, 0)", reshape, grad_reshape)


@language("squeeze", ("x", "axis"), kinds={"x": MATRIX, "axis": AXIS})
def _squeeze(x, axis):
    if x.shape[axis] != 1:
        raise ShapeError(f"squeeze: axis {axis} of a {shape_text(x)} matrix is not 1")
    return reshape(x, x.shape[1 - axis], 1)


@language("unsqueeze", ("x", "axis"), kinds={"x": MATRIX, "axis": AXIS})
def _unsqueeze(x, axis):
    if x.shape[1] != 1:
        raise ShapeError(f"unsqueeze needs a column vector, got {shape_text(x)}")
    return reshape(x, *((1, x.shape[0]) if axis == 0 else (x.shape[0], 1)))


class Diagonal(MatrixOp):
    """The diagonal of a square matrix, as a column (n x 1)."""

    def __new__(cls, arg):
        return super().__new__(cls, require_square(arg, "diagonal"))

    arg = property(lambda self: self.args[0])
    shape = property(lambda self: (self.arg.shape[0], Integer(1)))

    def _entry(self, i, j, **kwargs):
        return self.arg[i, i]

    def _sympystr(self, printer):
        return f"diagonal({printer._print(self.arg)})"

    def _numpycode(self, printer):
        return f"{printer._module_format('numpy.diagonal')}({printer._print(self.arg)}).reshape(-1, 1)"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.diagonal')}({printer._print(self.arg)}).reshape(-1, 1)"

    def _latex(self, printer):
        return rf"\operatorname{{diagonal}}\left({printer._print(self.arg)}\right)"


@language("diagonal", kinds={"x": MATRIX})
def diagonal(m):
    """The diagonal of a square matrix m, as a column."""
    if isinstance(m, SympyDiagMatrix):
        v = m.args[0]
        return v if v.shape[1] == 1 else transpose(v)
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, diagonal(core))
    if isinstance(m, sp.Transpose):
        return diagonal(m.arg)
    if isinstance(m, sp.MatMul) and len(m.args) == 2 and m.args[0].shape[1] == 1:  # diagonal(u v^T) = u * v
        return hadamard(m.args[0], transpose(m.args[1]))
    return Diagonal(m)


def grad_diagonal(ans, g, a):
    r"""$y = \operatorname{diagonal}(A)$: $\bar A = \operatorname{diag}(\bar y)$."""
    return (diag(g),)


register(Diagonal, "Diagonal", "diagonal(A)", diagonal, grad_diagonal)


class DiagMatrix(SympyDiagMatrix):
    """diag(v) for a vector v (SymPy's class, whose ``doit`` also evaluates the vector)."""

    def doit(self, **hints):
        vector = written_out(self.args[0].doit(**hints)) if hints.get("deep", True) else self.args[0]
        return SympyDiagMatrix.doit(type(self)(vector), **hints)


@language("diag", ("v",), kinds={"v": MATRIX})
def diag(v):
    """The diagonal matrix with the entries of the vector v."""
    if 1 not in v.shape:
        raise ShapeError(f"diag needs a vector, got {shape_text(v)}")
    c, core = split_coeff(v)
    if c != 1:
        return scale(c, diag(core))
    return DiagMatrix(v)


def lower_diagonal_product(e):
    r"""$\operatorname{diag}(v) B = v \odot B$ and $A \operatorname{diag}(v) = A \odot v^T$ (v broadcast): a product
    never builds the m x m diagonal matrix, as $X^T \operatorname{diag}(w) X$ (a Hessian) would at m = 65536."""
    if not isinstance(e, sp.MatMul):
        return None
    coeff, mats = e.as_coeff_matrices()
    k = next((k for k, m in enumerate(mats) if isinstance(m, SympyDiagMatrix)), None)
    if k is None or len(mats) < 2:
        return None
    v = diagonal(mats[k])  # its vector, as a column
    if k + 1 < len(mats):
        right = mats[k + 1]
        scaled = [hadamard(broadcast(v, *right.shape), right)]
        return matmul(coeff, *mats[:k], *scaled, *mats[k + 2 :])
    left = mats[k - 1]
    return matmul(coeff, *mats[: k - 1], hadamard(left, broadcast(transpose(v), *left.shape)))


def grad_diag(ans, g, v):
    r"""$Y = \operatorname{diag}(v)$: $\bar v = \operatorname{diagonal}(\bar Y)$, in the shape of $v$."""
    column = diagonal(g)
    return (column if v.shape[1] == 1 else transpose(column),)


register(
    DiagMatrix,
    "Diagonal matrix",
    "diag(v)",
    diag,
    grad_diag,
    spell={
        "text": lambda printer, e: f"diag({printer._print(e.args[0])})",
        "numpy": lambda printer, e: f"{printer._module_format('numpy.diagflat')}({printer._print(e.args[0])})",
        "torch": lambda printer, e: f"{printer._module_format('torch.diagflat')}({printer._print(e.args[0])})",
        "latex": lambda printer, e: rf"\operatorname{{diag}}\left({printer._print(e.args[0])}\right)",
    },
    lower=lower_diagonal_product,
    also=(SympyDiagMatrix,),
    structure=lambda e: DIAGONAL,
)


# --------------------------------------------------------------------------
# Slices E[r0:r1, c0:c1] and their adjoint, padding into zeros
# --------------------------------------------------------------------------


def _printed_range(printer, start, stop, size) -> str:
    """``start:stop`` as numpy writes it, an end left out where it is the matrix's own."""
    first = "" if start == 0 else printer._print(start)
    last = "" if sp.simplify(stop - size) == 0 else printer._print(stop)
    return f"{first}:{last}"


class Slice(MatrixOp):
    """The block of A in rows r0..r1 - 1 and columns c0..c1 - 1 (bounds: integers or expressions of dims)."""

    def __new__(cls, arg, r0, r1, c0, c1):
        return super().__new__(cls, require_matrix(arg, "a slice"), *map(sp.sympify, (r0, r1, c0, c1)))

    arg = property(lambda self: self.args[0])
    bounds = property(lambda self: self.args[1:])
    shape = property(lambda self: (self.args[2] - self.args[1], self.args[4] - self.args[3]))

    def _entry(self, i, j, **kwargs):
        r0, _, c0, _ = self.bounds
        return self.arg[i + r0, j + c0]

    def _code(self, printer):
        r0, r1, c0, c1 = self.bounds
        rows, cols = self.arg.shape
        return f"{atom(printer, self.arg)}[{_printed_range(printer, r0, r1, rows)}, {_printed_range(printer, c0, c1, cols)}]"

    _sympystr = _numpycode = _torchcode = _code

    def _latex(self, printer):
        r0, r1, c0, c1 = (printer._print(b) for b in self.bounds)
        return rf"\left({printer._print(self.arg)}\right)_{{{r0}:{r1},\, {c0}:{c1}}}"


def slice_of(m, r0, r1, c0, c1):
    """m[r0:r1, c0:c1]: the whole matrix is itself, a slice of a slice one slice, scalars come out, and a slice of a
    padding that covers just what was padded is the padded matrix."""
    r0, r1, c0, c1 = map(sp.sympify, (r0, r1, c0, c1))
    rows, cols = m.shape
    if r0 == 0 and c0 == 0 and sp.simplify(r1 - rows) == 0 and sp.simplify(c1 - cols) == 0:
        return m
    c, core = split_coeff(m)
    if c != 1:
        return scale(c, slice_of(core, r0, r1, c0, c1))
    if isinstance(m, Slice):
        a0, _, b0, _ = m.bounds
        return slice_of(m.arg, a0 + r0, a0 + r1, b0 + c0, b0 + c1)
    if isinstance(m, Pad) and m.offsets == (r0, c0) and tuple(m.arg.shape) == (r1 - r0, c1 - c0):
        return m.arg
    if isinstance(m, Concat):  # the block one part fills is that part
        for start, part in zip(m.offsets(), m.parts):
            at = (start, 0) if m.axis == 0 else (0, start)
            if (r0, c0) == at and tuple(part.shape) == (r1 - r0, c1 - c0):
                return part
    return Slice(m, r0, r1, c0, c1)


def grad_slice(ans, g, a, r0, r1, c0, c1):
    r"""$Y = A_{r_0:r_1,\, c_0:c_1}$: $\bar A$ is $\bar Y$ in those rows and columns, 0 elsewhere."""
    return pad(g, r0, c0, *a.shape), None, None, None, None


register(Slice, "Slice", "E[r0:r1, c0:c1]", slice_of, grad_slice)


class Pad(MatrixOp):
    """G placed at row r0, column c0 of a zero matrix of shape rows x cols."""

    arg = property(lambda self: self.args[0])
    offsets = property(lambda self: tuple(self.args[1:3]))
    shape = property(lambda self: tuple(self.args[3:5]))

    def _entry(self, i, j, **kwargs):
        r0, c0 = self.offsets
        rows, cols = self.arg.shape
        inside = sp.And(i >= r0, i < r0 + rows, j >= c0, j < c0 + cols)
        if inside in (sp.true, sp.false):  # concrete indices: an explicit matrix is indexed only inside
            return self.arg[i - r0, j - c0] if inside else sp.S.Zero
        return sp.Piecewise((self.arg[i - r0, j - c0], inside), (0, True))

    def _margins(self, printer) -> list[str]:
        """Zeros before and after, rows then columns."""
        (r0, c0), (rows, cols) = self.offsets, self.shape
        sizes = self.arg.shape
        return [printer._print(x) for x in (r0, rows - r0 - sizes[0], c0, cols - c0 - sizes[1])]

    def _sympystr(self, printer):
        (r0, c0), (rows, cols) = self.offsets, self.shape
        return f"pad({printer._print(self.arg)}, ({printer._print(r0)}, {printer._print(c0)}), ({printer._print(rows)}, {printer._print(cols)}))"

    def _numpycode(self, printer):
        top, bottom, left, right = self._margins(printer)
        return (
            f"{printer._module_format('numpy.pad')}({printer._print(self.arg)}, (({top}, {bottom}), ({left}, {right})))"
        )

    def _torchcode(self, printer):
        top, bottom, left, right = self._margins(printer)
        pad_ = printer._module_format("torch.nn.functional.pad")
        return f"{pad_}({printer._print(self.arg)}, ({left}, {right}, {top}, {bottom}))"

    def _latex(self, printer):
        (r0, c0), (rows, cols) = self.offsets, self.shape
        where = f"{printer._print(r0)}, {printer._print(c0)}"
        return rf"\operatorname{{pad}}_{{{printer._print(rows)} \times {printer._print(cols)}}}^{{({where})}}\left({printer._print(self.arg)}\right)"


@language("pad", ("x", "at", "shape"), kinds={"x": MATRIX, "at": OFFSETS, "shape": SHAPE})
def _pad_call(x, at, shape):
    return pad(x, at[0], at[1], *shape)


def pad(g, r0, c0, rows, cols):
    """g at row r0, column c0 of a zero rows x cols matrix (the adjoint of a slice)."""
    r0, c0, rows, cols = map(sp.sympify, (r0, c0, rows, cols))
    if r0 == 0 and c0 == 0 and (rows, cols) == tuple(g.shape):
        return g
    if isinstance(g, sp.ZeroMatrix):
        return ZeroMatrix(rows, cols)
    c, core = split_coeff(g)
    if c != 1:
        return scale(c, pad(core, r0, c0, rows, cols))
    return Pad(g, r0, c0, rows, cols)


def grad_pad(ans, g, a, r0, c0, rows, cols):
    r"""$Y = \operatorname{pad}(A)$: $\bar A = \bar Y$ in the rows and columns A was placed at."""
    return slice_of(g, r0, r0 + a.shape[0], c0, c0 + a.shape[1]), None, None, None, None


register(
    Pad, "Padding", "pad(E, (r0, c0), (rows, cols))", lambda g, r0, c0, rows, cols: pad(g, r0, c0, rows, cols), grad_pad
)


# --------------------------------------------------------------------------
# Concatenation: its adjoint is slices
# --------------------------------------------------------------------------


class Concat(MatrixOp):
    """Matrices stacked along axis 0 (rows: [A; B]) or 1 (columns: [A, B])."""

    axis = property(lambda self: int(self.args[0]))
    parts = property(lambda self: self.args[1:])

    @property
    def shape(self):
        rows, cols = self.parts[0].shape
        if self.axis == 0:
            return (sp.Add(*[p.shape[0] for p in self.parts]), cols)
        return (rows, sp.Add(*[p.shape[1] for p in self.parts]))

    def offsets(self) -> list:
        """Where each part starts along the axis."""
        starts, at = [], sp.S.Zero
        for p in self.parts:
            starts.append(at)
            at = at + p.shape[self.axis]
        return starts

    def _entry(self, i, j, **kwargs):
        index = i if self.axis == 0 else j
        pieces = []
        for start, p in zip(self.offsets(), self.parts):
            inside = sp.And(index >= start, index < start + p.shape[self.axis])
            if inside == sp.false:  # concrete indices: an explicit part is indexed only inside
                continue
            entry = p[i - start, j] if self.axis == 0 else p[i, j - start]
            if inside == sp.true:
                return entry
            pieces.append((entry, inside))
        return sp.Piecewise(*pieces, (0, True))

    def _sympystr(self, printer):
        return f"concat([{', '.join(printer._print(p) for p in self.parts)}], {self.axis})"

    def _numpycode(self, printer):
        parts = ", ".join(printer._print(p) for p in self.parts)
        return f"{printer._module_format('numpy.concatenate')}([{parts}], axis={self.axis})"

    def _torchcode(self, printer):
        return f"{printer._module_format('torch.cat')}([{', '.join(printer._print(p) for p in self.parts)}], dim={self.axis})"

    def _latex(self, printer):
        separator = r" \\ " if self.axis == 0 else " & "
        return rf"\begin{{bmatrix}} {separator.join(printer._print(p) for p in self.parts)} \end{{bmatrix}}"


@language("concat", ("parts", "axis"), defaults={"axis": 0}, kinds={"parts": MATRICES, "axis": AXIS})
def _concat_call(parts, axis):
    return concat(parts, axis)


def concat(parts, axis: int = 0):
    """The parts stacked along ``axis``; their other dimension must agree."""
    axis = int(axis)
    other = 1 - axis
    for p in parts[1:]:
        if p.shape[other] != parts[0].shape[other]:
            shapes = ", ".join(shape_text(q) for q in parts)
            raise ShapeError(
                f"concat along axis {axis} needs one {'column' if axis == 0 else 'row'} count, got {shapes}"
            )
    if len(parts) == 1:
        return parts[0]
    return Concat(sp.Integer(axis), *parts)


def grad_concat(ans, g, axis, *parts):
    r"""$Y = [A_1, \dots, A_k]$ along an axis: $\bar A_i$ is the block of $\bar Y$ where $A_i$ sits."""
    shares = []
    for start, p in zip(ans.offsets(), parts):
        if ans.axis == 0:
            shares.append(slice_of(g, start, start + p.shape[0], 0, g.shape[1]))
        else:
            shares.append(slice_of(g, 0, g.shape[0], start, start + p.shape[1]))
    return (None, *shares)


register(Concat, "Concatenation", "concat([A, B], axis)", lambda axis, *parts: concat(list(parts), axis), grad_concat)


class Parts(tuple):
    """The blocks ``split`` gives: several outputs, so a whole target ("split(A, (h, h), axis=1)") or indexed
    (``split(A, (h, h), axis=1)[0]``), never an operand."""


@language("split", ("x", "sizes", "axis"), defaults={"axis": 0}, kinds={"x": MATRIX, "sizes": SIZES, "axis": AXIS})
def split(x, sizes, axis=0):
    """The blocks of ``x`` along ``axis`` of the given sizes (as torch.split with sections), each a slice."""
    axis = int(axis)
    if sp.simplify(sum(sizes) - x.shape[axis]) != 0:
        what = "rows" if axis == 0 else "columns"
        raise ShapeError(f"split: the sizes {tuple(sizes)} add up to {sum(sizes)}, not the {x.shape[axis]} {what}")
    parts, start = [], sp.S.Zero
    for size in sizes:
        rows = (start, start + size) if axis == 0 else (0, x.shape[0])
        cols = (0, x.shape[1]) if axis == 0 else (start, start + size)
        parts.append(slice_of(x, *rows, *cols))
        start += size
    return Parts(parts)
