"""What the commands work on: an expression typed with its shapes, a catalog spec, or a spec file, derived.

``resolve`` turns what a user typed into a ``Target``; its document and its
module are what ``derive``, ``emit`` and ``check`` print, and what the
catalog commits (``spec_document``, ``spec_module``). The soak (``fuzz``)
derives its random expressions through ``resolve`` too, as a user would.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from . import catalog, codegen, latex
from .derivation import Derivation, derive, derive_jacobian
from .errors import SymdiffError
from .limits import syntax_tree
from .ops.structure import STRUCTURES, StructuredMatrix
from .outputs import derive_outputs, upstream_name
from .parse import FUNCTIONS, dimension_expression, parse_outputs
from .reserved import CONSTANTS, reserved, valid_dimension_name, valid_name
from .second_order import FUNCTION, derive_double_backward, derive_hessian, derive_hvp
from .verify.exact import SIMPLIFY_BUDGET
from .verify.exact import check_gradient as exact_check


def _dim(token: str, dims: dict, entry: str):
    """A dimension of a --shape entry: a positive integer, a name (pi and e too: in a shape a name is a dim), or an
    expression of them under + - * (``3*h``: packed weights)."""
    if token.isdigit() and int(token) > 0:
        return sp.Integer(int(token))

    def name(token):
        if not valid_dimension_name(token):
            raise SymdiffError(f"--shape {entry}: {token!r} is {reserved(token)}; it cannot name a dimension")
        return dims.setdefault(token, sp.Symbol(token, integer=True, positive=True))

    if token.isidentifier():
        return name(token)
    try:
        return dimension_expression(token, name)
    except SymdiffError as err:
        raise SymdiffError(f"--shape {entry}: {err}") from None


def symbols_for(expr_text: str, shapes: list[str]) -> dict:
    """Symbols for an expression typed on the command line.

    ``shapes`` are ``NAME=ROWS,COLS`` entries, ``NAME=N,N:STRUCTURE`` for a
    structured matrix (symmetric, spd, diagonal, lower, upper); every other name in the
    expression is a dimension (if it appears in a shape) or a real scalar.
    A dimension named ``e`` or ``pi`` is that dimension in the expression
    too; otherwise those names are the constants.
    """
    dims: dict = {}
    symbols: dict = {}
    for entry in shapes:
        name, sep, shape = entry.partition("=")
        shape, colon, structure = shape.partition(":")
        parts = shape.split(",")
        if not sep or len(parts) != 2 or not name.isidentifier():
            raise SymdiffError(f"--shape entries look like X=q,n (or S=n,n:symmetric); got {entry!r}")
        if not valid_name(name):
            raise SymdiffError(f"--shape {entry}: {name!r} is {reserved(name)}; a matrix needs another name")
        if name in symbols:
            raise SymdiffError(f"--shape {entry}: {name} has a shape already; give each matrix one")
        shape = [_dim(p.strip(), dims, entry) for p in parts]
        if colon and structure.strip() not in STRUCTURES:
            raise SymdiffError(
                f"--shape {entry}: the structure {structure.strip()!r} is not one of {', '.join(STRUCTURES)}"
            )
        if colon and shape[0] != shape[1]:
            raise SymdiffError(f"--shape {entry}: a {structure.strip()} matrix is square (like {name}=n,n)")
        symbols[name] = StructuredMatrix(name, *shape, structure.strip()) if colon else sp.MatrixSymbol(name, *shape)
    for name in sorted(set(symbols) & set(dims)):  # generated code would read the size where it means the matrix
        holders = [m for m, sym in symbols.items() if dims[name] in sym.shape]
        rows, cols = symbols[name].shape
        raise SymdiffError(
            f"--shape: {name} is both a matrix ({name}={rows},{cols}) and a dimension (in the shape of "
            f"{', '.join(holders)}): give them different names"
        )
    tree = syntax_tree(expr_text)  # a syntax error or a size limit is a ParseError here
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for name in sorted(names - set(symbols) - set(FUNCTIONS)):
        if name in dims or name not in CONSTANTS:
            symbols[name] = dims.get(name) or sp.Symbol(name, real=True)
    return symbols


def _spec_named(target: str, shapes: list[str]) -> catalog.Spec | None:
    """The spec ``target`` names (a path ending in .toml, or a catalog name), or None for an expression."""
    is_path = target.endswith(".toml")  # no expression ends so: attributes other than .T are not parsed
    if target in catalog.proof_names():
        raise SymdiffError(f"{target} is a proof, not a derivation: symdiff catalog --only {target} proves it")
    if not is_path and target not in catalog.names():
        return None
    if shapes:
        raise SymdiffError(f"--shape is for expressions; {target} is a spec, which declares its shapes")
    if not is_path:
        return catalog.load(target)
    path = Path(target)
    if path.is_dir():
        raise SymdiffError(f"{target} is a directory, not a spec file")
    if not path.is_file():
        hint = f" (the catalog has a spec {path.stem}: give its name)" if path.stem in catalog.names() else ""
        raise SymdiffError(f"{target}: no such spec file{hint}")
    return catalog.load_file(path)


@dataclass(frozen=True)
class SecondOrder:
    """What ``--hvp X [--direction V]`` or ``--hessian x [y]`` asks for."""

    kind: str  # "hvp" or "hessian"
    variable: str
    other: str | None = None  # the direction's name (hvp) or the partner variable (a mixed Hessian)

    @classmethod
    def from_options(cls, hvp: str | None, hessian: list | None, direction: str | None):
        if hvp and hessian:
            raise SymdiffError("--hvp and --hessian ask for different things: give one")
        if direction and not hvp:
            raise SymdiffError("--direction names the direction of an HVP: give --hvp X too")
        if hessian is not None and len(hessian) not in (1, 2):
            raise SymdiffError("--hessian takes one variable (x) or two (x y: the mixed second derivatives)")
        if hvp:
            return cls("hvp", hvp, direction)
        return cls("hessian", *hessian) if hessian else None

    def derive(self, d: Derivation) -> Derivation:
        """The second-order derivation of ``d``'s output (over the inputs, in ``d``'s input order)."""
        for name in filter(None, (self.variable, self.other if self.kind == "hessian" else None)):
            if name not in d.inputs:
                raise SymdiffError(f"--{self.kind} {name}: not an input of the expression ({', '.join(d.inputs)})")
        if self.kind == "hvp":
            return derive_hvp(d.output_expr, d.inputs[self.variable], self.other, inputs=list(d.inputs))
        partner = d.inputs[self.other] if self.other else None
        return derive_hessian(d.output_expr, d.inputs[self.variable], partner, inputs=list(d.inputs))


def _derive_expression(
    text: str,
    shapes: list[str],
    wrt: list[str],
    option: str = "--wrt",
    convention: str | None = None,
    jacobian: bool = False,
) -> Derivation:
    word = re.fullmatch(r"\w+", text.strip()) is not None
    if word and (not text.strip().isidentifier() or not shapes and not wrt):  # 002_batchnrm is no expression
        raise SymdiffError(f"{catalog.unknown_spec(text.strip())}; an expression needs --shape and --wrt")
    symbols = symbols_for(text, shapes)
    exprs = parse_outputs(text, **symbols)
    if not wrt:
        raise SymdiffError("say which variables to differentiate with respect to: --wrt NAME [NAME ...]")
    missing = [w for w in wrt if w not in symbols]
    if missing:
        raise SymdiffError(
            f"{option} {', '.join(missing)}: not in the expression (it uses {', '.join(sorted(symbols))})"
        )
    variables = [symbols[w] for w in wrt]
    convention = convention or "structured"
    if jacobian:
        if len(exprs) > 1:
            raise SymdiffError("a Jacobian is of one column vector: give one expression, not several outputs")
        return derive_jacobian(exprs[0], variables, output_name="y", inputs=list(symbols))
    if len(exprs) == 1:
        return derive(exprs[0], variables, output_name="f", inputs=list(symbols), convention=convention)
    names = [_fresh(f"f{k + 1}", symbols) for k in range(len(exprs))]
    upstream = [_fresh(upstream_name(name), symbols) for name in names]
    return derive_outputs(dict(zip(names, exprs)), variables, None, upstream, list(symbols), convention)


def _fresh(name: str, taken) -> str:
    """``name``, with ``_`` appended until nothing in ``taken`` has it."""
    while name in taken:
        name += "_"
    return name


@dataclass
class Target:
    """What ``derive``, ``emit`` and ``check`` work on: an expression, a catalog spec or a spec file, derived."""

    derivation: Derivation
    spec: catalog.Spec | None  # None for an expression
    name: str  # the spec's name, or the expression as typed

    @property
    def title(self) -> str:
        """The title of its generated module: the spec's title, or the expression (an HVP's or Hessian's)."""
        title = self.spec.title if self.spec else self.name
        d = self.derivation
        if d.kind == "hvp":
            return f"HVP of {title} w.r.t. {d.wrt[0]} along {d.direction}"
        if d.kind == "hessian":
            return f"Hessian of {title} w.r.t. {d.wrt[0]}" + (f" and {d.partner}" if d.partner else "")
        return title

    @property
    def exact_sizes(self) -> dict | None:
        """Sizes of the exact check: the spec's, or None (small default sizes)."""
        return self.spec.size_values() if self.spec else None

    @property
    def domains(self) -> dict:
        """Input domains of numeric checks that the spec declares."""
        return dict(self.spec.domains) if self.spec else {}

    def check_exact(self, w: str):
        """The exact entrywise check of the gradient (the HVP, the Hessian) w.r.t. ``w``."""
        budget = math.inf if self.spec else SIMPLIFY_BUDGET  # a spec's record is the same on every machine
        return exact_check(self.derivation, w, self.exact_sizes, budget)

    def stated_forms(self) -> list:
        """The closed forms a spec states, each compared with the derived one: [(name, Expected, ExactResult)]
        (a spec states forms of its own kind: a gradient spec's are none of its HVP's)."""
        return self.spec.stated_forms(self.derivation) if self.spec and self.derivation.kind == self.spec.kind else []

    def document(self, checks: dict | None = None, notation: str = "partial") -> list:
        """The step-by-step derivation as document blocks."""
        if self.derivation.kind in ("hvp", "hessian") and (not self.spec or self.spec.kind != self.derivation.kind):
            return latex.document_blocks(self.derivation, self.title, checks=checks, notation=notation)
        if self.spec:
            return spec_document(self.spec, self.derivation, checks, notation)
        word = "Jacobian" if self.derivation.kind == "jacobian" else "Gradient"
        return latex.document_blocks(self.derivation, f"{word} of {self.name}", checks=checks, notation=notation)

    def double_backward(self, asked: bool = False) -> tuple | None:
        """What its torch Function's double backward runs (``derive_double_backward``'s pair), where the user asks
        (--double-backward) or the spec says ``double_backward = true``; else None."""
        d = self.derivation
        said = self.spec is not None and self.spec.double_backward and d.kind == self.spec.kind
        if not (asked or said):
            return None
        if d.convention == "coordinates" and any(d.inputs[w].func is StructuredMatrix for w in d.wrt):
            if asked:
                raise SymdiffError(
                    "--double-backward differentiates the gradient a Function returns, which autograd chains as a "
                    "gradient: the structured convention's is one, the coordinates convention's is not"
                )
            return None
        if d.kind != "gradient" or d.outputs or self.spec is not None and self.spec.upstream:
            raise SymdiffError(
                "--double-backward is for the torch Function of a gradient of a loss (no --hvp, no layer)"
            )
        if self.spec is not None:
            return self.spec.derive_double_backward(d.wrt)
        return derive_double_backward(d.output_expr, d.wrt, inputs=list(d.inputs))

    def module(self, backend: str, torch_compile: bool = False, double_backward: bool = False) -> str:
        """The generated forward/backward module (``torch_compile``: under ``torch.compile``; ``double_backward``:
        its torch Function differentiable twice by the derived HVP, as a spec may say too)."""
        if double_backward and backend != "torch":
            raise SymdiffError("--double-backward is for the torch Function of a gradient (--backend torch, no --hvp)")
        d, second = self.derivation, self.double_backward(double_backward) if backend == "torch" else None
        if self.spec and d.kind == self.spec.kind:
            spec = self.spec
            return codegen.emit(d, backend, spec.title, spec.parameters, spec.upstream, torch_compile, second)
        return codegen.emit(d, backend, self.title, torch_compile=torch_compile, double_backward=second)


def resolve(
    target: str,
    shapes: list[str],
    wrt: list[str],
    second: SecondOrder | None = None,
    convention: str | None = None,
    jacobian: bool = False,
) -> Target:
    """``target`` as typed: a path to a spec file (``*.toml``), a catalog spec's name, or an expression.

    ``shapes`` (``NAME=ROWS,COLS``) are for expressions; ``wrt`` is required
    for an expression and picks gradients of a spec (default: all it declares).
    ``second``: its HVP or Hessian instead of its gradients (``wrt`` then need not be given).
    ``convention``: a structured variable's (``ops.structure.in_convention``), for a spec instead of its own.
    ``jacobian``: an expression's Jacobian (a column vector's) instead of its gradients.
    """
    spec = _spec_named(target, shapes)
    if jacobian and (second is not None or spec is not None):
        raise SymdiffError("a Jacobian is of a typed expression (a column vector), not of a spec, HVP or Hessian")
    if convention is not None and second is not None and convention != "structured":
        raise SymdiffError("--convention coordinates is for gradients; an HVP or Hessian is in the structure")
    if second is not None:
        if wrt and wrt != [second.variable]:
            raise SymdiffError(f"--{second.kind} {second.variable} differentiates w.r.t. {second.variable}: drop --wrt")
        option = f"--{second.kind}"
        first = _derive_expression(target, shapes, [second.variable], option) if spec is None else spec.derive()
        return Target(second.derive(first), spec, target if spec is None else spec.name)
    if spec is None:
        return Target(_derive_expression(target, shapes, wrt, convention=convention, jacobian=jacobian), None, target)
    d = spec.derive(convention)
    unknown = set(wrt) - set(d.wrt)
    if unknown:
        raise SymdiffError(f"{target} differentiates w.r.t. {', '.join(d.wrt)}; not {', '.join(sorted(unknown))}")
    if wrt:
        d.wrt = list(wrt)
    return Target(d, spec, spec.name)


def result_label(d: Derivation, name: str) -> str:
    """How ``derive`` names a result: df/dW, an HVP as H_W[V] (d/dW <grad f, V>), a Hessian as d2f/dx2."""
    f = FUNCTION if d.kind in ("hvp", "hessian") else d.output
    if d.kind == "hvp":
        return f"H_{name}[{d.direction}] = d/d{name} <d{f}/d{name}, {d.direction}>"
    if d.kind == "hessian":
        return f"d2{f}/d{name}d{d.partner}" if d.partner else f"d2{f}/d{name}2"
    return f"d{f}/d{name}"


def spec_document(spec: catalog.Spec, d: Derivation, checks: dict | None = None, notation: str = "partial") -> list:
    """The document blocks of a catalog spec's derivation, with a remark wherever its source is wrong."""
    remarks = [
        (w, spec.parse_form(e.source_states, expand=False), e.source_error, d.gradients[w])
        for w, e in spec.expected.items()
        if e.source_states is not None
    ]
    return latex.document_blocks(d, f"{spec.title} ({spec.name})", spec.source, spec.notes, remarks, checks, notation)


def spec_module(spec: catalog.Spec, d: Derivation, backend: str) -> str:
    """The generated module of a catalog spec's derivation (as in symdiff/generated)."""
    return Target(d, spec, spec.name).module(backend)
