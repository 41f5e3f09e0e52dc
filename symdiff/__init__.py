"""symdiff: matrix gradients derived symbolically, in closed form, and checked.

The public API (see DESIGN.md)::

    import symdiff as sd
    q, n, p = sd.dims("q n p")
    X, W = sd.matrix("X", q, n), sd.matrix("W", n, p)
    b, Y = sd.matrix("b", 1, p), sd.matrix("Y", q, p)
    loss = sd.parse("sum((X @ W + b - Y)**2) / q", X=X, W=W, b=b, Y=Y, q=q)
    sd.grad(loss, W)                  # 2/q * X.T @ (X @ W + b - Y)
    sd.hvp(loss, W, sd.matrix("V", n, p))   # 2/q * X.T @ X @ V: d/dW <grad, V>
    d = sd.derive(loss, wrt=[W, b])   # Derivation: .forward, .steps, .gradients
    layer = sd.derive_outputs({"h": ..., "c": ...}, wrt=[W])   # several outputs: sd.compile(layer) returns (h, c)
    print(sd.check(d).summary())      # generated code vs finite differences and torch autograd
"""

from . import codegen, verify
from .codegen import compile, emit
from .derivation import Derivation, derive, derive_jacobian, dims, grad, jacobian, matrix, placeholder, scalar
from .errors import CodegenError, InputError, InternalError, ParseError, ShapeError, SymdiffError, UnsupportedError
from .outputs import derive_outputs
from .parse import parse
from .printing import text
from .second_order import derive_hessian, derive_hvp, gnvp, hessian, hvp
from .verify.checks import check

__all__ = [
    "CodegenError",
    "Derivation",
    "InputError",
    "InternalError",
    "ParseError",
    "ShapeError",
    "SymdiffError",
    "UnsupportedError",
    "check",
    "codegen",
    "compile",
    "derive",
    "derive_hessian",
    "derive_hvp",
    "derive_jacobian",
    "derive_outputs",
    "dims",
    "emit",
    "gnvp",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "matrix",
    "parse",
    "placeholder",
    "scalar",
    "text",
    "verify",
]
