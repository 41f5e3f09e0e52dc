"""The derivation catalog: one TOML spec per derivation in ``derivations/``.

A spec names its dimensions, its inputs with their shapes, the forward
computation as named steps in the expression language (the last step is the
output), the variables to differentiate, and the closed forms the source
states (with what the source got wrong, where it did). Add a derivation by
adding a file; see ``derivations/README.md`` for the format.

This module reads specs and derives them; it does not print them. The command
line (``target.spec_document``, ``target.spec_module``) turns a spec's derivation
into its document and its generated code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

import sympy as sp

from .derivation import Derivation, derive, derive_jacobian, placeholder
from .errors import SymdiffError
from .ops import is_matrix, shape_text
from .ops.structure import CONVENTIONS, STRUCTURES, StructuredMatrix, like
from .outputs import derive_outputs, upstream_name
from .parse import dimension_expression, parse
from .reserved import nearest, reserved, valid_dimension_name, valid_name
from .second_order import DIRECTION, derive_double_backward, derive_hessian, derive_hvp
from .verify.exact import same
from .verify.numeric import DOMAINS


class SpecError(SymdiffError, ValueError):
    """A spec file is malformed."""


def spec_dir() -> Path:
    """Where the specs are: inside the installed package, or derivations/ of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "derivations", here.parent / "derivations"):
        if candidate.is_dir():
            return candidate
    raise SpecError(f"no derivations directory next to {here}")


@dataclass
class Expected:
    """A closed form the source document states for one gradient (spec table ``[expected.NAME]``)."""

    form: str
    source_ref: str = ""  # where the source states it: "eq. 1.12"
    source_states: str | None = None  # what the source wrote, where it is wrong
    source_error: str | None = None  # why it is wrong


@dataclass
class Spec:
    name: str
    title: str
    source: str
    dims: dict  # name -> Symbol
    inputs: dict  # name -> MatrixSymbol or Symbol
    forward: dict  # name -> expression text, in order; the last is the output
    wrt: list
    kind: str = "gradient"  # or jacobian, hessian, hvp
    direction: str | None = None  # an HVP's direction (V by default), a matrix of its variable's shape
    sizes: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    notes: str = ""
    parameters: list = field(default_factory=list)  # inputs that are a layer's parameters (torch nn.Module)
    upstream: str | None = None  # an input standing for the upstream gradient: the spec is a layer
    outputs: dict = field(default_factory=dict)  # a layer's several outputs: step name -> its upstream gradient's
    domains: dict = field(default_factory=dict)  # input -> domain of numeric test values (default any)
    double_backward: bool = False  # its torch Function is differentiable twice by the derived HVP (a loss's: default)
    convention: str = "structured"  # a structured variable's gradient (ops.structure.in_convention)
    path: Path | None = None

    @property
    def output(self) -> str:
        return list(self.forward)[-1]

    def environment(self) -> dict:
        """Symbols by name: dims, inputs and an HVP's direction (intermediates are added by ``steps``)."""
        direction = {self.direction: like(self.inputs[self.wrt[0]], self.direction)} if self.direction else {}
        return {**self.dims, **self.inputs, **direction}

    def steps(self) -> tuple[dict, list]:
        """The forward steps parsed: (name -> symbol environment, [(placeholder, expression)])."""
        env = self.environment()
        parsed = []
        for name, text in self.forward.items():
            try:
                expr = parse(text, **env)
            except SymdiffError as err:
                raise SpecError(f"{self.name}: step {name} = {text!r}: {err}") from None
            sym = placeholder(name, expr)
            parsed.append((sym, expr))
            env[name] = sym
        env |= {g: placeholder(g, env[y]) for y, g in self.outputs.items()}  # forms may use a layer's G_h
        return env, parsed

    def _parsed(self) -> tuple:
        """(symbol environment, the output's expression, the intermediates by placeholder)."""
        env, parsed = self.steps()
        return env, parsed[-1][1], dict(parsed[:-1])

    def derive(self, convention: str | None = None) -> Derivation:
        """Its derivation; ``convention`` (a structured variable's) instead of the spec's own."""
        env, output, intermediates = self._parsed()
        wrt = [env[w] for w in self.wrt]
        inputs = list(self.inputs)
        if self.kind == "hvp":
            return derive_hvp(output, wrt[0], self.direction, intermediates, inputs=inputs)
        if self.kind == "hessian":
            return derive_hessian(output, wrt[0], None, intermediates, inputs=inputs)
        if self.kind == "jacobian":
            return derive_jacobian(output, wrt, intermediates, output_name=self.output, inputs=inputs)
        convention = convention or self.convention
        if self.outputs:
            steps = {**intermediates, env[self.output]: output}  # every step is an intermediate of L
            mine = {name: env[name] for name in self.outputs}
            return derive_outputs(mine, wrt, steps, list(self.outputs.values()), inputs, convention)
        return derive(output, wrt, intermediates, output_name=self.output, inputs=inputs, convention=convention)

    def derive_double_backward(self, wrt: list | None = None) -> tuple:
        """What its torch Function's double backward runs (``second_order.derive_double_backward``), in ``wrt``
        (default: all it differentiates in)."""
        env, output, intermediates = self._parsed()
        variables = [env[w] for w in wrt or self.wrt]
        return derive_double_backward(output, variables, intermediates, inputs=list(self.inputs))

    def parse_form(self, text: str, expand: bool = True):
        """A closed form in the spec's symbols (intermediates allowed), intermediates expanded if ``expand``."""
        env, parsed = self.steps()
        expr = parse(text, **env)
        if not expand:
            return expr
        for sym, definition in reversed(parsed):
            expr = expr.xreplace({sym: definition})
        return expr

    def stated_forms(self, d: Derivation) -> list:
        """Each closed form the spec states for a gradient of ``d``, compared entry by entry with the derived one
        at the spec's sizes: [(name, Expected, ExactResult)]."""
        compared = []
        for w, expected in self.expected.items():
            if w not in d.wrt:
                continue
            try:
                stated = self.parse_form(expected.form)
            except SymdiffError as err:
                raise SpecError(f"{self.name}: [expected.{w}] form = {expected.form!r}: {err}") from None
            derived = d.closed_form(w)
            if _shape_of(stated) != _shape_of(derived):
                raise SpecError(
                    f"{self.name}: [expected.{w}] form = {expected.form!r} has shape {shape_text(stated)}, "
                    f"the gradient of {w} {shape_text(derived)}"
                )
            compared.append((w, expected, same(stated, derived, self.size_values())))
        return compared

    def size_values(self) -> dict | None:
        """Sizes of the exact check (dim symbol -> int), or None for its defaults when the spec gives none.

        Dims the spec's ``[sizes]`` leave out get small sizes distinct from the given ones.
        """
        if not self.sizes:
            return None
        free = (n for n in (3, 2, 4, 5, 6, 7) if n not in self.sizes.values())
        values = {self.dims[k]: v for k, v in self.sizes.items()}
        return values | {sym: next(free, 2) for name, sym in self.dims.items() if name not in self.sizes}


def _shape_of(e):
    return tuple(e.shape) if is_matrix(e) and tuple(e.shape) != (1, 1) else ()


def _shape(spec_name, name, shape, dims):
    if not isinstance(shape, list) or len(shape) != 2:
        raise SpecError(f"{spec_name}: shape of {name} must be [rows, cols], got {shape!r}")
    out = []
    for d in shape:
        if isinstance(d, int) and d > 0:
            out.append(sp.Integer(d))
        elif isinstance(d, str) and d in dims:
            out.append(dims[d])
        elif isinstance(d, str) and not d.isidentifier():  # 3*h: packed weights
            out.append(_dimension_expression(spec_name, name, d, dims))
        else:
            raise SpecError(
                f"{spec_name}: shape of {name} uses {d!r}, which is not a positive integer or a declared dim"
            )
    return tuple(out)


def _matrix(spec_name: str, name: str, shape: tuple, data: dict):
    """The input ``name``: a matrix symbol, structured where the spec's ``structures`` table says so."""
    structure = data.get("structures", {}).get(name)
    if structure is None:
        return sp.MatrixSymbol(name, *shape)
    if structure not in STRUCTURES:
        raise SpecError(f"{spec_name}: structure of {name} must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if shape[0] != shape[1]:
        raise SpecError(f"{spec_name}: {name} is declared {structure}, which needs a square shape, not {list(shape)}")
    return StructuredMatrix(name, *shape, structure)


def _dimension_expression(spec_name: str, name: str, text: str, dims: dict):
    def declared(token):
        if token not in dims:
            raise SpecError(f"{spec_name}: shape of {name} uses {token!r}, which is not a declared dim")
        return dims[token]

    try:
        return dimension_expression(text, declared)
    except SpecError:
        raise
    except SymdiffError as err:
        raise SpecError(f"{spec_name}: shape of {name}: {err}") from None


KINDS = ("gradient", "jacobian", "hessian", "hvp")


def _direction(name: str, data: dict, kind: str, inputs: dict, dims: dict) -> str | None:
    """An HVP spec's direction (``direction``, default V): a new name; a second-order spec has one variable, and a
    Hessian's is a column vector."""
    if "direction" in data and kind != "hvp":
        raise SpecError(f'{name}: direction is for kind = "hvp"')
    if kind in ("hessian", "hvp") and len(data["wrt"]) != 1:
        raise SpecError(f"{name}: a {kind} spec has one variable in wrt, got {data['wrt']}")
    if kind == "hessian" and (not is_matrix(inputs[data["wrt"][0]]) or inputs[data["wrt"][0]].shape[1] != 1):
        raise SpecError(f'{name}: a Hessian\'s variable is a column vector (for a matrix, kind = "hvp")')
    if kind != "hvp":
        return None
    direction = data.get("direction", DIRECTION)
    if (
        not isinstance(direction, str)
        or not valid_name(direction)
        or direction in {**inputs, **dims, **data["forward"]}
    ):
        raise SpecError(f"{name}: direction {direction!r} must be a new name (not an input, dim or step)")
    return direction


def _names(spec_name, what, names, valid=valid_name):
    for n in names:
        if isinstance(n, str) and n.isidentifier() and not valid(n):
            raise SpecError(f"{spec_name}: {what} {n!r} is {reserved(n)}")
        if not isinstance(n, str) or not valid(n):
            raise SpecError(f"{spec_name}: {what} {n!r} is not a valid name")
    return names


def _declared_once(spec_name: str, data: dict):
    """Each name is one thing: a dim, an input (shapes, scalars) or a step; the generated code names them alike."""
    kinds = {"dims": "a dim", "shapes": "a matrix (shapes)", "scalars": "a scalar", "forward": "a step"}
    seen: dict = {}
    for key, kind in kinds.items():
        declared = data.get(key, [])
        for n in declared if isinstance(declared, (list, dict)) else []:
            if isinstance(n, str) and seen.setdefault(n, kind) != kind:
                raise SpecError(
                    f"{spec_name}: {n} is declared both as {seen[n]} and as {kind}: give them different names"
                )


def _read(path: Path) -> dict:
    """A spec file's TOML, or a SpecError saying why it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: not a TOML spec ({err})") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot read it ({err.strerror or err})") from None


def _outputs(name: str, data: dict, inputs: dict, kind: str) -> dict:
    """A layer's several outputs from its ``[output.STEP]`` tables: step -> the name of its upstream gradient
    (``upstream = "G_h"``, default G_STEP), a new input of the step's shape."""
    tables = data.get("output", {})
    if not isinstance(tables, dict):
        raise SpecError(f"{name}: output is a table per output step, [output.NAME], not {tables!r:.40}")
    if not tables:
        return {}
    if "upstream" in data or kind != "gradient":
        raise SpecError(f"{name}: [output.*] tables make a gradient spec a layer with several outputs; no upstream key")
    outputs = {}
    for step, table in tables.items():
        if step not in data["forward"]:
            raise SpecError(f"{name}: [output.{step}] names no step of forward ({', '.join(data['forward'])})")
        if not isinstance(table, dict) or set(table) - {"upstream"}:
            raise SpecError(f"{name}: [output.{step}] takes only the key upstream (the name of its gradient)")
        outputs[step] = table.get("upstream", upstream_name(step))
        _names(name, f"[output.{step}] upstream", [outputs[step]])
    clash = [g for g in outputs.values() if g in inputs or g in data["forward"] or g in data.get("dims", [])]
    if clash or len(set(outputs.values())) < len(outputs):
        raise SpecError(f"{name}: each output's upstream gradient needs a name of its own, not {clash or outputs}")
    return outputs


def load_file(path: Path) -> Spec:
    """Read and validate one spec file."""
    name = path.stem
    data = _read(path)
    known = {
        "title",
        "source",
        "dims",
        "shapes",
        "scalars",
        "forward",
        "wrt",
        "kind",
        "sizes",
        "expected",
        "notes",
        "parameters",
        "upstream",
        "output",
        "domains",
        "direction",
        "double_backward",
        "structures",
        "convention",
    }
    unknown = set(data) - known
    if unknown:
        raise SpecError(f"{name}: unknown keys {sorted(unknown)} (allowed: {sorted(known)})")
    for key in ("title", "source", "forward", "wrt"):
        if key not in data:
            raise SpecError(f"{name}: missing {key!r}")
    _declared_once(name, data)
    dims = {
        d: sp.Symbol(d, integer=True, positive=True)
        for d in _names(name, "dim", data.get("dims", []), valid_dimension_name)
    }
    inputs = {m: _matrix(name, m, _shape(name, m, shape, dims), data) for m, shape in data.get("shapes", {}).items()}
    for m in set(data.get("structures", {})) - set(inputs):
        raise SpecError(f"{name}: structures names {m!r}, which is not a matrix in shapes")
    convention = data.get("convention", "structured")
    if convention not in CONVENTIONS:
        raise SpecError(f"{name}: convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    _names(name, "input", list(inputs))
    inputs.update({s: sp.Symbol(s, real=True) for s in _names(name, "scalar", data.get("scalars", []))})
    forward = data["forward"]
    _names(name, "step", list(forward))
    kind = data.get("kind", "gradient")
    if kind not in KINDS:
        raise SpecError(f"{name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    for w in data["wrt"]:
        if w not in inputs:
            raise SpecError(f"{name}: wrt {w!r} is not an input (inputs: {', '.join(inputs)})")
    direction = _direction(name, data, kind, inputs, dims)
    upstream = data.get("upstream")
    if upstream is not None and upstream not in inputs:
        raise SpecError(f"{name}: upstream {upstream!r} is not an input")
    outputs = _outputs(name, data, inputs, kind)
    layer = upstream is not None or bool(outputs)
    double_backward = data.get("double_backward", kind == "gradient" and not layer)  # every loss's, unless
    if double_backward not in (True, False) or double_backward and (kind != "gradient" or layer):
        raise SpecError(f"{name}: double_backward = true is for a gradient spec of a loss (no upstream)")
    for param in data.get("parameters", []):
        if param not in inputs:
            raise SpecError(f"{name}: parameter {param!r} is not an input (inputs: {', '.join(inputs)})")
    expected = {}
    for w, entry in data.get("expected", {}).items():
        if w not in data["wrt"]:
            raise SpecError(f"{name}: expected form for {w!r}, which is not in wrt")
        allowed = [f.name for f in fields(Expected)]
        if not isinstance(entry, dict) or "form" not in entry or set(entry) - set(allowed):
            raise SpecError(f"{name}: [expected.{w}] needs a form, and only the keys {', '.join(allowed)}")
        expected[w] = Expected(**entry)
    domains = data.get("domains", {})
    for m, domain in domains.items():
        if m not in inputs or domain not in DOMAINS:
            raise SpecError(f"{name}: domain {m} = {domain!r}: needs an input and one of {', '.join(DOMAINS)}")
    sizes = data.get("sizes", {})
    for d in sizes:
        if d not in dims:
            raise SpecError(f"{name}: size given for {d!r}, which is not a dim")
    return Spec(
        name=name,
        title=data["title"],
        source=data["source"],
        dims=dims,
        inputs=inputs,
        forward=forward,
        wrt=list(data["wrt"]),
        kind=kind,
        direction=direction,
        sizes=sizes,
        expected=expected,
        notes=data.get("notes", ""),
        parameters=list(data.get("parameters", [])),
        upstream=upstream,
        outputs=outputs,
        domains=domains,
        double_backward=double_backward,
        convention=convention,
        path=path,
    )


def names() -> list[str]:
    return sorted(p.stem for p in spec_dir().glob("*.toml"))


def load(name: str) -> Spec:
    path = spec_dir() / f"{name}.toml"
    if not path.is_file():
        raise SpecError(unknown_spec(name))
    return load_file(path)


def unknown_spec(name: str, what: str = "catalog spec", known: list | None = None) -> str:
    """``no catalog spec named 'x'``, with the nearest ``known`` names (default: derivations and proofs), or all."""
    known = names() + proof_names() if known is None else known
    near = nearest(name, known)
    return f"no {what} named {name!r} " + (
        f"(the nearest: {', '.join(near)})" if near else f"(known: {', '.join(known)})"
    )


@dataclass
class ProofSpec:
    """A proof or analysis (``derivations/proofs/*.toml``, ``kind = "proof"``): which proof of
    ``symdiff.theory`` it runs, and the forms it is about, in the expression language."""

    name: str
    title: str
    source: str
    proof: str
    forms: dict
    notes: str = ""
    data: dict = field(default_factory=dict)  # further tables the proof reads (the models of a cost count)
    path: Path | None = None

    def prove(self):
        from .theory import prove

        return prove(self.proof, self.forms, f"{self.title} ({self.name})", self.source, self.notes, self.data)


def proof_names() -> list[str]:
    directory = spec_dir() / "proofs"
    return sorted(p.stem for p in directory.glob("*.toml")) if directory.is_dir() else []


def load_proof(name: str) -> ProofSpec:
    path = spec_dir() / "proofs" / f"{name}.toml"
    if not path.is_file():
        raise SpecError(unknown_spec(name, "proof", proof_names()))
    return load_proof_file(path)


def load_proof_file(path: Path) -> ProofSpec:
    """Read and validate one proof spec."""
    name = path.stem
    data = _read(path)
    known = {"title", "source", "kind", "proof", "forms", "notes", "data"}
    if set(data) - known:
        raise SpecError(f"{name}: unknown keys {sorted(set(data) - known)} (allowed: {sorted(known)})")
    for key in ("title", "source", "proof", "forms"):
        if key not in data:
            raise SpecError(f"{name}: missing {key!r}")
    if data.get("kind") != "proof":
        raise SpecError(f"{name}: a spec under proofs/ has kind = 'proof', got {data.get('kind')!r}")
    forms = data["forms"]
    if not isinstance(forms, dict) or not all(isinstance(v, str) for v in forms.values()):
        raise SpecError(f"{name}: [forms] maps names to expressions (strings)")
    extra = data.get("data", {})
    if not isinstance(extra, dict):
        raise SpecError(f"{name}: [data] holds tables the proof reads")
    return ProofSpec(name, data["title"], data["source"], data["proof"], forms, data.get("notes", ""), extra, path)
