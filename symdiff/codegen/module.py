"""The module writer: a generated module's names, helpers, forward and backward.

A generated module defines

* ``forward(inputs...)`` returning ``(output, saved)``: the output and the
  tensors the backward pass needs (inputs and forward intermediates, each
  computed once);
* ``backward(saved, grad_output=1.0)`` returning a dict of gradients keyed by
  variable name, scaled by the upstream gradient; subexpressions shared by
  several gradients are computed once.

Only the helpers a module calls are defined in it, from the op cards' stable
sources. The module depends on numpy or torch only.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy import MatrixSymbol

from ..derivation import Derivation, ForwardStep
from ..errors import CodegenError
from ..graph import constructor, nodes, transform
from ..ops import is_matrix, split_coeff
from ..ops.card import MatrixOp, Printed, card_of, helper_closure, made_of_matrices
from ..ops.labels import INDEX_DTYPE, OneHot, label_classes
from ..ops.shapes import Pad
from ..ops.structure import SUBSPACE, exactly, structure_of
from ..printing import LatexPrinter
from ..reserved import is_dimension
from ..steps import step_comment, step_number
from .array_code import argument, in_place_call
from .blocks import blocks_shared, buffer_lines, padded_blocks
from .cse import common_subexpressions, shared_subexpressions, trivial
from .format import format_source
from .layout import float_valued, fresh_float, update_plan
from .lower import lower
from .masks import compared_values, with_saved
from .names import SAVED, hygienic
from .printers import printer_class
from .torch_wrappers import torch_wrappers

IMPORTS = {"numpy": "import numpy", "torch": "import torch"}
CLOSED_FORMS = {"hessian": "Hessian", "gnvp": "Gauss-Newton product"}  # kinds whose function returns the form itself


def _share_with_forward(forward: list, grads: list) -> tuple[list, list]:
    """Matrix subexpressions both the forward pass and the gradients compute become saved steps h0, h1, ..."""
    in_forward, in_grads = nodes(s.expr for s in forward), nodes(grads)
    # sympy.cse finds repeated sums and products; an op both passes compute (batch_std(X) inside 1/sigma)
    # it may leave inside a larger node, so ops are taken too
    candidates = shared_subexpressions([s.expr for s in forward] + grads)
    candidates += [e for e in in_forward if isinstance(e, MatrixOp) and not trivial(e) and e not in candidates]
    # a sum the gradients regrouped is no node of theirs; a mask of the forward (an HVP module's, in <grad f, V>)
    # compares values the forward must compute once too
    compared = compared_values(in_forward, grads + [s.expr for s in forward])
    candidates += [e for e in compared if e not in candidates]
    reused = [
        e
        for e in candidates
        if is_matrix(e) and e in in_forward and (e in in_grads or e in compared) and not isinstance(e, MatrixSymbol)
    ]
    # parts before the wholes that hold them; ties in a fixed order, so the module is the same in every run
    reused.sort(key=lambda e: (len(list(sp.preorder_traversal(e))), sp.default_sort_key(e)))
    first = sum(1 for s in forward if SAVED.fullmatch(s.name))  # a second pass numbers on
    names = {e: MatrixSymbol(f"h{first + k}", *e.shape) for k, e in enumerate(reused)}
    steps, done = [], set()
    for step in forward:
        for e in reused:  # innermost first, each before the first step that uses it
            if e not in done and e in nodes([step.expr]):
                steps.append(
                    ForwardStep(names[e].name, names[e], e.xreplace({k: v for k, v in names.items() if k != e}))
                )
                done.add(e)
        steps.append(ForwardStep(step.name, step.symbol, step.expr.xreplace(names)))
    return steps, [with_saved(g, names) for g in grads]


def _from_forward(forward: list, grads: list) -> tuple[list, list]:
    """The forward and the gradients written so that the gradients read saved forward values instead of
    recomputing from the inputs, and the forward saves them.

    What the cards' ``reuse`` derive from forward nodes replaces the gradients' own (softmax from a forward
    log-softmax). Where the gradients use a piece of a forward op, the forward is written through the pieces
    its card's ``expand`` gives, one level first (batchnorm as gamma x_hat + beta), so that a piece both passes
    use is saved whole (x_hat); then everything is expanded (x_hat through sigma) and what both passes now
    compute is saved too (sigma)."""
    replacements = {}
    for node in nodes(s.expr for s in forward):
        card = card_of(node)
        if card is not None and card.reuse is not None:
            replacements.update(card.reuse(node))
    grads = [g.xreplace(replacements) for g in grads] if replacements else grads
    in_grads = {type(n) for n in nodes(grads)}
    if not any(card_of(n) is not None and card_of(n).expand is not None and type(n) in in_grads for n in nodes(grads)):
        return _share_with_forward(forward, grads)
    expanded = set()

    def expand_forward_node(e):
        pieces = _expansion(e)
        if pieces is not None:
            expanded.add(e)
        return pieces

    forward = [ForwardStep(s.name, s.symbol, transform(s.expr, rewrite=expand_forward_node)) for s in forward]
    # the gradients' copies of those forward ops too (std(batchnorm(X)) in std's rule), so that what they
    # compute from them is what the forward computes, and is saved (the std a safe_recip reads)
    grads = [transform(g, rewrite=lambda e: _expansion(e) if e in expanded else None) for g in grads]
    forward, grads = _share_with_forward(forward, grads)
    forward = [ForwardStep(s.name, s.symbol, _expanded(s.expr)) for s in forward]
    return _share_with_forward(forward, [_expanded(g) for g in grads])


def _expansion(e):
    """``e`` written through its pieces if its card has ``expand``, else None."""
    card = card_of(e)
    return card.expand(e) if card is not None and card.expand is not None else None


def _expanded(expr):
    """``expr`` with every op whose card has ``expand`` written through its pieces, innermost first."""
    while True:  # an expansion may hold ops that expand further (batchnorm's x_hat)
        expanded = transform(expr, rewrite=_expansion)
        if expanded == expr:
            return expr
        expr = expanded


def _in_dependency_order(definitions: list) -> list:
    """``(symbol, value)`` definitions reordered so each comes after those its value reads, otherwise in the
    order given: the shared subexpressions and the named adjoints of a backward pass read one another."""
    defined = {symbol for symbol, _ in definitions}
    pending, done, ordered = list(definitions), set(), []
    while pending:
        ready = next(k for k, (_, value) in enumerate(pending) if value.free_symbols & defined <= done)
        symbol, value = pending.pop(ready)
        done.add(symbol)
        ordered.append((symbol, value))
    return ordered


def _dims_as_tensors(expr, dims: list):
    """Functions of dims alone (``exp(q)``, ``relu(n - q)``) applied to float64 tensors of the dims.

    Generated torch code reads a dim as a Python int, which torch's functions
    refuse; a 0-dim tensor takes the dtype and device of the tensors it meets.
    """
    tensors = {dim: Printed(f"torch.tensor({dim}, dtype=torch.float64)") for dim in dims}

    def rewrite(e):
        bodies = [a for a in e.args if isinstance(a, sp.Lambda) and a.expr.free_symbols & set(dims)]
        if bodies:  # softplus(X, 1 + sigmoid(r)): a function of dims inside a body, which walks do not enter
            args = [sp.Lambda(a.variables, _dims_as_tensors(a.expr, dims)) if a in bodies else a for a in e.args]
            return constructor(e)(*args)
        alone = e.free_symbols and e.free_symbols <= set(dims) and not made_of_matrices(e)  # zeros((m, r)): ints
        if isinstance(e, sp.Function) and alone:
            return e.xreplace(tensors)
        return None

    return transform(expr, rewrite=rewrite)


def _dims(symbols: dict) -> dict:
    """dim symbol -> (name, axis): where generated code reads each dimension from."""
    where = {}
    for name, sym in symbols.items():
        if is_matrix(sym):
            for axis, dim in enumerate(sym.shape):
                if isinstance(dim, sp.Symbol) and dim not in where:
                    where[dim] = (name, axis)
    return where


def _docstring_shapes(d: Derivation, names, labels: dict) -> list[str]:
    """Each argument's shape; a dim that no argument's shape carries is an argument of its own, an int; a label
    column's type (``labels``: name -> number of classes)."""
    lines = []
    for name in names:
        shape = d.shapes.get(name)
        what = "scalar" if shape is None else f"{shape[0]} x {shape[1]}"
        if name in labels:
            what = f"{shape[0]} class indices in [0, {labels[name]}), {INDEX_DTYPE} (shape ({shape[0]},) or ({shape[0]}, 1))"
        lines.append(f"    {name}: {'a dimension (int)' if is_dimension(d.inputs.get(name)) else what}")
    return lines


def _layer_outputs(d: Derivation, upstream: tuple) -> tuple[list, list]:
    """The forward steps and outputs of a layer whose derivation's output is sum(G_1 * Y_1) + ... (one term per
    upstream gradient G_i in ``upstream``, each Y_i a forward step): (steps, [Y_1, ...])."""
    steps = {s.symbol: s.name for s in d.forward[:-1]}
    terms = sp.Add.make_args(d.forward[-1].expr)
    outputs = []
    last = {str(x): x for x in d.forward[-1].expr.free_symbols}  # an output that is 0 leaves G out of the inputs
    for name in upstream:
        G = last.get(name)
        pairs = [t.free_symbols - {G} for t in terms if G is not None and G in t.free_symbols]
        if len(terms) != len(upstream) or len(pairs) != 1 or len(pairs[0]) != 1 or next(iter(pairs[0])) not in steps:
            wanted = " + ".join(f"sum({g} * Y{k + 1})" for k, g in enumerate(upstream))
            raise CodegenError(f"upstream={list(upstream)} needs a derivation ending in {wanted}, each Y a step")
        outputs.append(steps[next(iter(pairs[0]))])
    return d.forward[:-1], outputs


class _Writer:
    """The parts of one generated module: names, helpers, forward, backward (and torch wrappers)."""

    def __init__(self, d: Derivation, backend: str, upstream: tuple = ()):
        d, self.user_name = hygienic(d, backend)
        code_name = {user: name for name, user in self.user_name.items()}
        self.upstream = tuple(code_name.get(name, name) for name in upstream)  # a layer's: one per output
        self.d, self.backend = d, backend
        self.printer = printer_class(backend)()
        matrices = [m for m in list(d.inputs.values()) + [s.symbol for s in d.forward] if is_matrix(m)]
        self.dims = sorted({dim for m in matrices for dim in m.shape if isinstance(dim, sp.Symbol)}, key=str)
        # and the dims only inside compound shapes (k of 2*k), which code takes as arguments: all of them are ints
        self.all_dims = sorted({s for m in matrices for dim in m.shape for s in sp.sympify(dim).free_symbols}, key=str)
        self.tex = self._docstring_printer()
        # a dim is read from an input's shape, or (r of zeros((r, n)), m of X[:m, :] with X (m + 2) x n) an argument
        carried = {x for n, s in d.inputs.items() if is_matrix(s) and n not in self.upstream for x in s.shape}
        self.inputs = [name for name, s in d.inputs.items() if s not in carried and name not in self.upstream]
        self.labels = {str(y): classes for y, classes in label_classes(d.output_expr).items()}
        self.forward_steps, self.outputs = (
            _layer_outputs(d, self.upstream) if self.upstream else (d.forward, [d.output])
        )
        # what forward returns: the output, or several as a tuple
        self.output = self.outputs[0] if len(self.outputs) == 1 else f"({', '.join(self.outputs)})"
        # the subexpressions the gradients reuse from the forward pass are computed once there and saved
        lowered = [ForwardStep(s.name, s.symbol, self._lower(s.expr)) for s in self.forward_steps]
        # the named adjoints are computed in backward before the gradients that read them
        adjoints = d.named_adjoints
        values = [self._lower(s.value) for s in adjoints] + [self._lower(d.gradients[w]) for w in d.wrt]
        self.steps, values = _from_forward(lowered, values)
        # the arrays known to hold floating point, which printed code may update in place
        self.printer.floating = set(self.upstream)
        for s in self.steps:
            if float_valued(s.expr, self.printer.floating):
                self.printer.floating.add(s.name)
        self.adjoints = [(s.symbol, v) for s, v in zip(adjoints, values)]
        # a structured variable's gradient is projected once more, so that it is in its structure exactly
        self.grads = [
            exactly(g, structure_of(d.inputs[w])) if structure_of(d.inputs[w]) and d.kind != "hessian" else g
            for w, g in zip(d.wrt, values[len(adjoints) :])
        ]
        self.saved = self._saved_names()

    def _docstring_printer(self) -> LatexPrinter:
        """The LaTeX of the docstrings, which is math: each renamed symbol under the user's name (``grads``, not
        ``grads_``), and each named adjoint as the derivative it is."""
        d, latex_name = self.d, LatexPrinter()._print
        symbols = [*d.inputs.values(), *(s.symbol for s in d.forward), *self.dims]
        names = {s: latex_name(sp.Symbol(self.user_name[s.name])) for s in symbols if self.user_name[s.name] != s.name}
        out = names.get(d.forward[-1].symbol) or latex_name(d.forward[-1].symbol)
        for s in d.named_adjoints:
            names[s.symbol] = rf"\frac{{\partial {out}}}{{\partial {latex_name(sp.Symbol(self.user_name[s.name]))}}}"
        return LatexPrinter(names)

    def _lower(self, expr):
        expr = lower(expr)
        return _dims_as_tensors(expr, self.all_dims) if self.backend == "torch" else expr

    def _symbol(self, name: str):
        return self.d.inputs.get(name) or next(s.symbol for s in self.steps if s.name == name)

    def _saved_names(self, like: bool = True) -> list[str]:
        """What backward receives: the inputs and intermediates its formulas use, and dims no saved tensor carries;
        ``like``: and (torch) a tensor giving dtype and device where the backward has ones or zeros to build."""
        backward = self.grads + [v for _, v in self.adjoints]  # what the backward computes
        needed = set().union(*(g.free_symbols for g in backward))
        # a dim inside printed code (expm1(m) as torch.expm1(torch.tensor(m, ...))) is needed too
        printed = [s.name for s in needed if isinstance(s, Printed)]
        needed |= {dim for dim in self.dims if any(re.search(rf"\b{dim}\b", code) for code in printed)}
        candidates = self.inputs + [s.name for s in (self.steps if self.upstream else self.steps[:-1])]
        names = [n for n in candidates if sp.Symbol(n) in needed or any(getattr(x, "name", None) == n for x in needed)]
        if len(self.outputs) > 1:  # an output whose gradient is not given (None) is taken as zeros like it
            names += [n for n in self.outputs if n not in names]
        matrices = [n for n in self.inputs if is_matrix(self._symbol(n)) and n not in self.labels]
        constants = any(g.atoms(sp.OneMatrix, sp.ZeroMatrix, sp.Identity, OneHot, Pad) for g in backward)
        if like and self.backend == "torch" and constants and matrices and not set(names) & set(matrices):
            names.append(matrices[0])  # torch builds ones / zeros / eye like a tensor: its dtype and device
        carried = _dims({n: self._symbol(n) for n in names})
        return names + [str(dim) for dim in self.dims if dim in needed and dim not in carried]

    def _preamble(self, body: list[str], available: list[str]) -> list[str]:
        """Lines reading the dims ``body`` uses from tensor shapes, and (torch) a tensor giving dtype and device."""
        text = "\n".join(body)
        where = _dims({n: self._symbol(n) for n in available if n not in map(str, self.dims)})
        used = [dim for dim in self.dims if re.search(rf"\b{dim}\b", text) and dim in where]
        lines = [f"    {dim} = {where[dim][0]}.shape[{where[dim][1]}]" for dim in used]
        inputs = [n for n in available if n in self.d.inputs and is_matrix(self.d.inputs[n]) and n not in self.labels]
        first = next(iter(inputs), None)  # not a label column: its dtype is int64
        return lines + ([f"    like = {first}"] if "like)" in text and first else [])

    def _step_lines(self, step) -> list[str]:
        """A forward step's lines; an output that cancels to a number of dims (sum(C - C)) is still an array or
        tensor."""
        if step.name not in self.outputs or is_matrix(step.expr) or step.expr.free_symbols - set(self.all_dims):
            return self._assignment(step.name, step.expr)
        code = self.printer.doprint(step.expr)
        if self.backend == "numpy":
            code = f"numpy.float64({code})"
        elif any(is_matrix(self.d.inputs[n]) and n not in self.labels for n in self.inputs):
            code = f"torch.as_tensor({code}, dtype=torch.float64).to(like)"  # like: an input's dtype and device
        else:
            code = f"torch.as_tensor({code}, dtype=torch.float64)"
        return [f"    {step.name} = {code}"]

    def _assignment(self, target: str, e, indent: int = 4) -> list[str]:
        """Lines setting ``target`` to ``e``: in numpy code, a new array and the in-place updates that finish it
        (``t0 = numpy.exp(h0)``, ``t0 -= T``), as torch code chains them."""
        blocks = buffer_lines(self.printer, target, e, indent)
        if blocks is not None:
            return blocks
        plan = update_plan(self.printer, e) if self.backend == "numpy" and is_matrix(e) else None
        if plan is None:
            return [f"{' ' * indent}{target} = {self.printer.doprint(e)}"]
        head, updates = plan
        first = (
            [f"{' ' * indent}{target} = {head}"] if isinstance(head, str) else self._assignment(target, head, indent)
        )
        return first + [f"{' ' * indent}{target} {op}= {argument(operand)}" for op, operand in updates]

    def forward_function(self, function_name: str = "forward") -> str:
        body = [line for s in self.steps for line in self._step_lines(s)]
        return "\n".join(
            [
                f"def {function_name}({', '.join(self.inputs)}):",
                '    r"""Forward pass.'
                if function_name == "forward"
                else '    r"""The double backward\'s forward pass.',
                "",
                *[f"    ${self.tex.doprint(s.symbol)} = {self.tex.doprint(s.expr)}$" for s in self.forward_steps],
                "",
                "    Arguments in declared order (the spec's or --shape's, then scalars), with shapes:",
                *_docstring_shapes(self.d, self.inputs, self.labels),
                f"    Returns ({self.output}, saved), saved being the tensors backward() needs.",
                '    """',
                *self._preamble(body + [", ".join(self.saved)], self.inputs),
                *body,
                f"    return {self.output}, ({', '.join(self.saved)}{',' if self.saved else ''})",
            ]
        )

    def hvp_function(self) -> str:
        """An HVP module's shortcut (after ``backward_function``, which settles what is saved): the forward steps
        the saved values need, without <grad f, V> itself, then backward's one result."""
        needed = set(self.saved)
        steps = []
        for step in reversed([s for s in self.steps if s.name != self.output]):
            if step.name in needed:
                steps.insert(0, step)
                needed |= {str(x) for x in step.expr.free_symbols}
        body = [line for s in steps for line in self._step_lines(s)]
        x, direction = self.user_name[self.d.wrt[0]], self.user_name[self.d.direction]
        saved = f"({', '.join(self.saved)}{',' if self.saved else ''})"
        return "\n".join(
            [
                f"def hvp({', '.join(self.inputs)}):",
                f'    """The HVP in {x} along {direction}: backward(forward(...)[1])["{x}"] without computing the',
                f'    forward\'s output <grad f, {direction}>, which the HVP does not need."""',
                *self._preamble(body + [saved], self.inputs),
                *body,
                f'    return backward({saved}, 1.0)["{x}"]',
            ]
        )

    def _gradient_docstring(self, w: str) -> str:
        d, tex = self.d, self.tex
        g = d.gradients[w]
        shape = " x ".join(map(str, g.shape)) if is_matrix(g) and d.shapes.get(w) is not None else "scalar"
        out, x = tex.doprint(d.forward[-1].symbol), tex.doprint(d.inputs[w])
        if d.kind == "hessian":
            y = tex.doprint(d.inputs[d.partner or w])
            derivative = rf"\frac{{\partial^2 {out}}}{{\partial {x} \, \partial {y}^{{T}}}}"
        elif d.kind == "gnvp":  # J^T H J V: J the model's derivative in x, H the loss's Hessian in the model's output
            derivative = rf"J_{{{x}}}^{{T}} H J_{{{x}}} {tex.doprint(d.inputs[d.direction])}"
        else:
            derivative = rf"\frac{{\partial {out}}}{{\partial {x}}}"
        structure = structure_of(d.inputs[w]) if d.kind != "hessian" else None
        kept = f"; {w} is {structure}: computed in the {SUBSPACE[structure]} exactly" if structure else ""
        return f"    ${derivative} = {tex.doprint(g)}$ ({shape}{kept})"

    def backward_function(self, function_name: str = "backward") -> str:
        printer, temporaries, definitions, results = self.printer, {}, [], []
        adjoint_values = [v for _, v in self.adjoints]
        shared, reduced = blocks_shared(*common_subexpressions(adjoint_values + self.grads))
        adjoints = [(symbol, v) for (symbol, _), v in zip(self.adjoints, reduced)]
        grads = reduced[len(adjoints) :]
        step_of = {s.symbol: s.name for s in self.d.named_adjoints}
        groups = []  # (name, the step it computes or None, its lines, its value): definitions, commented below
        for symbol, e in _in_dependency_order(shared + adjoints):
            e = e.xreplace(temporaries)
            name = printer.doprint(symbol) if any(symbol is a for a, _ in adjoints) else f"t{len(temporaries)}"
            groups.append((name, step_of.get(symbol), self._assignment(name, e), e))
            if float_valued(e, printer.floating):  # what reads it may update its own new arrays in place
                printer.floating.add(name)
            if name.startswith("t"):
                temporaries[symbol] = MatrixSymbol(name, *e.shape) if is_matrix(e) else sp.Symbol(name)
        closed = self.d.kind in CLOSED_FORMS  # the same function, named for what it returns, and not scaled
        # the document's steps are those of the module's own backward, not of a double backward's pairing
        numbered = function_name == "backward"
        definitions = self._commented(groups, [g.xreplace(temporaries) for g in grads], numbered)
        given = set()  # temporaries already returned as a gradient
        for w, g in zip(self.d.wrt, grads):
            g = g.xreplace(temporaries)
            coeff, core = split_coeff(g) if is_matrix(g) else (sp.S.One, g)
            target = f'grads["{self.user_name[w]}"]'
            if (self.upstream or closed) and g in given:  # b_ih and b_hh: one value, two arrays to update
                lines = [f"        {target} = {printer.doprint(g)}.{'clone' if self.backend == 'torch' else 'copy'}()"]
            elif self.upstream or closed:
                lines = self._assignment(target, g, indent=8)
                given |= {g} if isinstance(g, MatrixSymbol) else set()
            elif padded_blocks(g) is not None:  # into one buffer, then scaled in place
                lines = self._assignment(target, g, indent=8) + [f"        {target} *= grad_output"]
            elif coeff != 1:  # the scalars multiplied first: one pass over the matrix
                scalar = f"grad_output * {printer._paren(coeff, printer.PRODUCT)}"
                if fresh_float(core, printer.floating, self.backend):  # into the new matrix
                    if self.backend == "torch":
                        lines = [f"        {target} = {in_place_call(printer.doprint(core), 'mul_', scalar)}"]
                    else:
                        lines = self._assignment(target, core, indent=8) + [f"        {target} *= {scalar}"]
                else:
                    lines = [f"        {target} = {printer._paren(core, printer.PRODUCT)} * ({scalar})"]
            else:
                lines = [f"        {target} = grad_output * {printer._paren(g, printer.POWER)}"]
            said = self._step_comment(w) if numbered and self.d.kind != "hessian" else None  # a Hessian is no step
            results += [f'    if "{self.user_name[w]}" in wanted:', *([f"        # {said}"] if said else []), *lines]
        if "like)" not in "\n".join(definitions + results):  # 1 - Y: the ones printed as a number
            self.saved = self._saved_names(like=False)
        several = len(self.upstream) > 1
        what = (
            f"given grad_outputs = ({', '.join(self.upstream)}), the upstream gradients "
            f"{', '.join(f'dL/d{y}' for y in self.outputs)} (None: zeros)."
            if several
            else f"given grad_output = {self.upstream[0]}, the upstream gradient dL/d{self.output}."
            if self.upstream
            else f"of {self.output}."
            if closed
            else f"of {self.output}, scaled by grad_output."
        )
        noun = CLOSED_FORMS.get(self.d.kind, "gradient")
        signature = (
            f"{self.d.kind}(saved, wanted=GRADIENTS)"
            if closed
            else f"{function_name}(saved, grad_outputs, wanted=GRADIENTS)"
            if several
            else f"{function_name}(saved, grad_output=1.0, wanted=GRADIENTS)"
        )
        return "\n".join(
            [
                f"def {signature}:",
                f'    r"""{noun[0].upper() + noun[1:]}s for the names in ``wanted``, {what}',
                "",
                *[
                    f"    ${self.tex.doprint(s.symbol)} = {self.tex.doprint(s.value)}$ ({s.symbol})"
                    for s in self.d.named_adjoints
                ],
                *[self._gradient_docstring(w) for w in self.d.wrt],
                "",
                f"    Returns a dict: variable name -> {noun}.",
                '    """',
                *([f"    ({', '.join(self.saved)},) = saved"] if self.saved else []),
                *self._upstream_lines(),
                *self._preamble(definitions + results, self.saved),
                *definitions,
                "    grads = {}",
                *results,
                "    return grads",
            ]
        )

    def _step_comment(self, name: str) -> str | None:
        """``dC/dS: step 3, Softmax rule``: the document's step that a line computes, in the user's names."""
        out = self.user_name[self.d.forward[-1].name]
        return step_comment(self.d, name, f"d{out}/d{self.user_name.get(name, name)}")

    def _commented(self, groups: list, grads: list, numbered: bool = True) -> list[str]:
        """The definitions' lines, each group under a comment: the step a named adjoint is, or the steps a
        temporary is part of (those that read it, directly or through other temporaries); none where not
        ``numbered``."""
        if not numbered:
            return [line for _, _, assignment, _ in groups for line in assignment]
        readers = {name: set() for name, _, _, _ in groups}
        gradient_steps = self.d.wrt if self.d.kind != "hessian" else [None] * len(grads)  # a Hessian is no step
        named = [(n, step, e) for n, step, _, e in groups] + list(zip(self.d.wrt, gradient_steps, grads))
        for name, step, e in reversed(named):  # a temporary read by a later definition is part of its steps
            used = {str(x) for x in e.free_symbols} & set(readers)
            numbers = {step_number(self.d, step)} - {None} if step else readers.get(name, set())
            for t in used - {name}:
                readers[t] |= numbers
        lines = []
        for name, step, assignment, _ in groups:
            said = self._step_comment(step) if step else None
            if said is None and readers[name]:
                numbers = sorted(readers[name])
                said = f"part of step{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"
            lines += ([f"    # {said}"] if said else []) + assignment
        return lines

    def _upstream_lines(self) -> list[str]:
        """A layer's backward: its upstream gradients from the arguments, an output's None as zeros like it."""
        if len(self.upstream) < 2:
            return [f"    {g} = grad_output" for g in self.upstream]
        zeros = f"{self.backend}.zeros_like"
        names = ", ".join(self.upstream)
        arity = [
            f"    if not isinstance(grad_outputs, (tuple, list)) or len(grad_outputs) != {len(self.upstream)}:",
            f'        raise TypeError("grad_outputs: one gradient per output, ({names}), None for an unused one")',
        ]
        return (
            arity
            + [f"    ({names},) = grad_outputs"]
            + [f"    {g} = {zeros}({y}) if {g} is None else {g}" for g, y in zip(self.upstream, self.outputs)]
        )

    def pairing_functions(self, first: "_Writer", directions: dict) -> list[str]:
        """A double-backward derivation's forward and backward, as ``pairing_forward`` and ``pairing_backward``
        (``self`` writing it, ``first`` the module's own): they take the module's inputs, then the directions."""
        expected = [first.user_name[n] for n in first.inputs] + list(directions.values())
        if [self.user_name[n] for n in self.inputs] != expected:
            raise CodegenError(f"the double backward's inputs {self.inputs} are not the module's, then its directions")
        # backward first: it settles what the forward saves for it
        backward = self.backward_function("pairing_backward")
        return [self.forward_function("pairing_forward"), backward]


def emit(
    d: Derivation,
    backend: str = "numpy",
    title: str | None = None,
    parameters=None,
    upstream=None,
    torch_compile=False,
    double_backward: tuple | None = None,
) -> str:
    """Source text of a module computing ``d``'s forward pass and gradients with ``backend``.

    For torch, the module also defines ``Function`` (a torch.autograd.Function)
    and, when ``parameters`` names inputs, ``Module`` (an nn.Module holding them).

    ``upstream`` names an input G standing for the upstream gradient, in a
    derivation whose output is ``sum(G * Y)``: the module is then the layer
    ``Y = f(inputs)``, its forward returns Y and its backward takes dL/dY as
    ``grad_output`` (a layer to drop into a network rather than a loss). Several names, for a derivation ending
    in ``sum(G_1 * Y_1) + sum(G_2 * Y_2) + ...``: forward returns (Y_1, Y_2, ...) and backward takes
    ``grad_outputs``, one per output. None (the default): the derivation's own (``Derivation.outputs``, from
    ``outputs.derive_outputs``); ``()``: none, the module of the scalar output.

    ``torch_compile`` (torch only) wraps forward and backward in ``torch.compile``: each is compiled into fused
    kernels on its first call with new shapes, and ``Function`` and ``Module`` call the compiled ones.

    ``double_backward`` (torch only): ``second_order.derive_double_backward``'s (derivation, directions) for ``d``'s
    output and variables. ``Function`` is then differentiable twice by that derived form: its backward, run with
    create_graph=True or under torch.func.jvp, is a Function whose backward and jvp are the HVP.
    """
    if backend not in IMPORTS:
        raise CodegenError(f"backend must be one of {', '.join(IMPORTS)}, got {backend!r}")
    if torch_compile and backend != "torch":
        raise CodegenError(f"torch.compile compiles torch code; the {backend} backend has nothing to compile")
    if d.kind == "jacobian":
        raise CodegenError(
            "code generation (and so `symdiff check` and `emit`) needs a gradient, HVP or Hessian derivation, not a "
            "Jacobian; `symdiff derive NAME --check` checks a Jacobian exactly"
        )
    if double_backward is not None and (backend != "torch" or upstream or d.kind != "gradient"):
        raise CodegenError("a double backward is for the torch Function of a gradient derivation (not a layer's)")
    if upstream is None:  # d's own: a layer's with several outputs, else none
        upstream = tuple(g for _, g in d.outputs)
    upstream = (upstream,) if isinstance(upstream, str) else tuple(upstream)
    writer = _Writer(d, backend, upstream)
    public = [writer.user_name[name] for name in writer.inputs]
    names = f"INPUTS = ({', '.join(map(repr, public))},)\nGRADIENTS = ({', '.join(map(repr, d.wrt))},)"
    # printing them records the helpers used; the backward first, which settles what the forward saves for it
    backward = writer.backward_function()
    functions = [writer.forward_function(), backward]
    if d.kind == "hvp":
        functions.append(writer.hvp_function())
    helpers_used = set(writer.printer.helpers_used)
    if double_backward is not None:
        second, directions = double_backward
        pairing = _Writer(second, backend)
        functions += pairing.pairing_functions(writer, directions)
        helpers_used |= pairing.printer.helpers_used
        names += f"\nDIRECTIONS = ({', '.join(map(repr, directions))},)"
    code_name = {user: name for name, user in writer.user_name.items()}
    held = [code_name[name] for name in parameters or []]
    gradients = d.kind not in CLOSED_FORMS  # an autograd Function or Module needs gradients
    wrappers = (
        torch_wrappers(writer.output, writer.inputs, held, title, double_backward is not None, len(writer.outputs))
        if backend == "torch" and gradients
        else []
    )
    compiled_names = ["forward", "backward"] + (["pairing_forward", "pairing_backward"] if double_backward else [])
    compiled = ["\n".join(f"{n} = torch.compile({n})" for n in compiled_names)] if torch_compile else []
    code = [names, *helper_closure(backend, helpers_used), *functions, *compiled, *wrappers]
    header = f'"""{title or "Forward and backward pass"}: generated by symdiff ({backend} backend). Do not edit."""'
    top = f"{header}\n\n{IMPORTS[backend]}" if any(f"{backend}." in c for c in code) else header
    return format_source(f"{top}\n\n" + "\n\n\n".join(code) + "\n")
