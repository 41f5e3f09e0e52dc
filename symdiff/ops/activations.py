r"""The scalar functions of the language and the activations, each with its card.

Each scalar function has a card: its class (ours carry an elementary
``definition`` for the exact check), its spellings, its stable numpy/torch
helper where the library has none, and its name in the expression language,
where it maps over matrices (``entrywise.Elementwise``, whose one rule
differentiates them all). Conventions at kinks follow PyTorch: relu'(0) = 0,
leaky_relu'(0) = a, abs'(0) = sign(0) = 0, clip passes the gradient on its
bounds, and maximum / minimum split it evenly at ties.
"""

from __future__ import annotations

from typing import Callable

import sympy as sp
from sympy import Expr

from ..errors import InputError, ShapeError
from .card import (
    CARDS,
    EITHER,
    call,
    is_matrix,
    language,
    library,
    made_of_matrices,
    register,
    shape_text,
)
from .entrywise import derivative, parametrized


def scalar_rule(ans, g, *args):
    r"""$\bar a_i = \bar y \, \partial f / \partial a_i$ for a scalar $y = f(a_1, \dots, a_k)$."""
    grads = []
    for i, arg in enumerate(args):
        d = sp.Dummy("d", real=True)
        partial = derivative(ans.func(*(d if j == i else a for j, a in enumerate(args))), d, ans)
        grads.append(g * partial.xreplace({d: arg}))
    return tuple(grads)


# --------------------------------------------------------------------------
# Scalar functions with an elementary definition
# --------------------------------------------------------------------------


class Activation(sp.Function):
    """A scalar function with an elementary (or piecewise) definition; it prints through its card."""

    is_mask = False  # a derivative that is 0 on a region (step): its products are 0 there, even with infinities

    @classmethod
    def eval(cls, *args):
        """A mask of numbers is its number (step(0) = 0: a mask of a difference that cancelled)."""
        if cls.is_mask and all(a.is_Number for a in args):
            value = cls(*args, evaluate=False).definition()
            return value if value.is_finite else None
        return None

    def definition(self) -> Expr:
        raise NotImplementedError

    def fdiff(self, argindex=1):
        d = sp.Dummy("d", real=True)
        args = [d if k == argindex - 1 else a for k, a in enumerate(self.args)]
        return sp.diff(self.func(*args).definition(), d).xreplace({d: self.args[argindex - 1]})

    def _eval_evalf(self, prec):
        return elementary(self)._eval_evalf(prec)

    def _sympystr(self, printer, **kwargs):
        return CARDS[type(self)].spell["text"](printer, self, **kwargs)

    def _latex(self, printer, **kwargs):
        return CARDS[type(self)].spell["latex"](printer, self, **kwargs)

    def _numpycode(self, printer, **kwargs):
        return CARDS[type(self)].spell["numpy"](printer, self, **kwargs)

    def _torchcode(self, printer, **kwargs):
        return CARDS[type(self)].spell["torch"](printer, self, **kwargs)


def elementary(expr: Expr) -> Expr:
    """Replace every activation in ``expr`` by its elementary definition (which may use other activations)."""
    while expr.has(Activation):
        expr = expr.replace(lambda e: isinstance(e, Activation), lambda e: e.definition())
    return expr


class sigmoid(Activation):
    r"""$\sigma(x) = 1 / (1 + e^{-x})$."""

    nargs = 1

    def definition(self):
        return 1 / (1 + sp.exp(-self.args[0]))

    def fdiff(self, argindex=1):
        return self * (1 - self)


class softplus(Activation):
    r"""$\operatorname{softplus}_\beta(x) = \frac{1}{\beta}\log(1 + e^{\beta x})$."""

    nargs = 2

    @classmethod
    def eval(cls, x, beta):
        if beta.is_zero:  # 1/0 times log 2: no function to differentiate
            raise InputError("softplus(E, beta) needs beta != 0 (beta = 0 divides by zero everywhere)")

    def definition(self):
        x, beta = self.args
        return sp.log(1 + sp.exp(beta * x)) / beta

    def fdiff(self, argindex=1):
        x, beta = self.args
        if argindex == 1:
            return sigmoid(beta * x)
        return x * sigmoid(beta * x) / beta - self / beta


class relu(Activation):
    r"""$\operatorname{relu}(x) = \max(x, 0)$; $\operatorname{relu}'(0) = 0$ as in PyTorch."""

    nargs = 1

    def definition(self):
        x = self.args[0]
        return sp.Piecewise((x, x > 0), (0, True))

    def fdiff(self, argindex=1):
        return step(self.args[0])


class step(Activation):
    r"""$\operatorname{step}(x) = [x > 0]$, the derivative of relu (0 at 0)."""

    is_mask = True

    nargs = 1

    def definition(self):
        return sp.Piecewise((1, self.args[0] > 0), (0, True))

    def fdiff(self, argindex=1):
        return sp.S.Zero


class leaky_relu(Activation):
    r"""$x$ for $x > 0$, else $a x$; $\operatorname{leaky\_relu}'(0) = a$ as in PyTorch."""

    nargs = 2

    def definition(self):
        x, a = self.args
        return sp.Piecewise((x, x > 0), (a * x, True))

    def fdiff(self, argindex=1):
        x, a = self.args
        if argindex == 1:
            return leaky_step(x, a)
        return x - relu(x)


class leaky_step(Activation):
    r"""$1$ for $x > 0$, else $a$: the derivative of leaky_relu."""

    is_mask = True

    nargs = 2

    def definition(self):
        x, a = self.args
        return sp.Piecewise((1, x > 0), (a, True))

    def fdiff(self, argindex=1):
        if argindex == 1:
            return sp.S.Zero
        return 1 - step(self.args[0])


class log1p(Activation):
    r"""$\log(1 + x)$, accurate for small $x$."""

    nargs = 1

    def definition(self):
        return sp.log(1 + self.args[0])

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])


class expm1(Activation):
    r"""$e^x - 1$, accurate for small $x$."""

    nargs = 1

    def definition(self):
        return sp.exp(self.args[0]) - 1

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])


class erf(Activation):
    r"""$\operatorname{erf}(x) = \frac{2}{\sqrt{\pi}} \int_0^x e^{-t^2} dt$ (SymPy's erf, printable by ``lambdify``)."""

    nargs = 1

    def definition(self):
        return sp.erf(self.args[0])

    def fdiff(self, argindex=1):
        return 2 * sp.exp(-(self.args[0] ** 2)) / sp.sqrt(sp.pi)


class gelu(Activation):
    r"""$\operatorname{gelu}(x) = x \Phi(x) = \frac{x}{2}(1 + \operatorname{erf}(x / \sqrt{2}))$ (torch's exact form)."""

    nargs = 1

    def definition(self):
        x = self.args[0]
        return x / 2 * (1 + erf(x / sp.sqrt(2)))

    def fdiff(self, argindex=1):
        x = self.args[0]
        return (1 + erf(x / sp.sqrt(2))) / 2 + x * sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)


GELU_KAPPA = sp.Rational(44715, 10**6)  # torch's approximate="tanh" constant


class gelu_tanh(Activation):
    r"""$\frac{x}{2}(1 + \tanh(\sqrt{2/\pi}(x + 0.044715 x^3)))$: torch's gelu(approximate="tanh")."""

    nargs = 1

    def definition(self):
        x = self.args[0]
        return x / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + GELU_KAPPA * x**3)))


class silu(Activation):
    r"""$\operatorname{silu}(x) = x \sigma(x)$."""

    nargs = 1

    def definition(self):
        return self.args[0] / (1 + sp.exp(-self.args[0]))

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sigmoid(x) * (1 + x * (1 - sigmoid(x)))


class clip(Activation):
    r"""$\min(\max(x, lo), hi)$, as torch.clamp and numpy.clip (hi where lo > hi); its derivative is 1 on
    $[lo, hi]$, bounds included, and a bound's is torch's: lo's $[x < lo][lo < hi]$, hi's $[x > hi \lor hi < lo]$."""

    nargs = 3

    @classmethod
    def eval(cls, x, lo, hi):
        if lo == hi:  # clip(x, c, c) is c: its gradient goes to c (torch.clamp's gives 0 to all three at lo = hi)
            return lo
        return None

    def definition(self):
        x, lo, hi = self.args
        return sp.Piecewise((hi, sp.Or(x > hi, lo > hi)), (lo, x < lo), (x, True))

    def fdiff(self, argindex=1):
        x, lo, hi = self.args
        if argindex == 1:
            return clip_step(x, lo, hi)
        if argindex == 2:
            return step(lo - x) * step(hi - lo)
        return 1 - (1 - step(x - hi)) * (1 - step(lo - hi))


class clip_step(Activation):
    r"""$[lo \le x \le hi]$: the derivative of clip."""

    is_mask = True

    nargs = 3

    def definition(self):
        x, lo, hi = self.args
        return sp.Piecewise((1, sp.And(x >= lo, x <= hi)), (0, True))

    def fdiff(self, argindex=1):
        return sp.S.Zero


class tie_step(Activation):
    r"""$1$ for $x > 0$, $\frac{1}{2}$ at $0$, else $0$: the derivative of maximum, split at ties as torch."""

    is_mask = True

    nargs = 1

    def definition(self):
        x = self.args[0]
        return sp.Piecewise((1, x > 0), (sp.S.Half, sp.Eq(x, 0)), (0, True))

    def fdiff(self, argindex=1):
        return sp.S.Zero


class safe_recip(Activation):
    r"""$1/x$, and $0$ at $x = 0$ (in code): std's gradient where the spread is 0, as PyTorch.

    Its definition is $1/x$, as ``unit``'s is $X / \lVert X \rVert$: the exact check proves a gradient
    where it is differentiable; the value at 0 is PyTorch's choice, tested against torch.
    """

    is_mask = True

    nargs = 1

    def definition(self):
        return 1 / self.args[0]

    def fdiff(self, argindex=1):
        return -(self**2)


# --------------------------------------------------------------------------
# Spellings of scalar functions
# --------------------------------------------------------------------------


def _text(name):
    return lambda printer, e, **kw: f"{name}({', '.join(printer._print(a) for a in e.args)})"


def _latex(head):
    def spell(printer, e, exp=None, **kw):
        args = [printer._print(a) for a in e.args]
        sub = "_{" + ", ".join(args[1:]) + "}" if len(args) > 1 else ""
        out = rf"{head}{sub}\left({args[0]}\right)"
        return f"{out}^{{{exp}}}" if exp else out

    return spell


def _helper(dialect, name):
    return lambda printer, e, **kw: call(printer, dialect, name, *(printer._print(a) for a in e.args))


def scalar_function(
    cls, name, latex, numpy=None, torch=None, helpers=None, text=None, title=None, syntax=None, also=()
):
    """Register the card of a scalar function: numpy / torch spellings are library names or, when None, helpers."""
    spell = {
        "text": text or _text(name),
        "latex": _latex(latex),
        "numpy": library(numpy) if numpy else _helper("numpy", name),
        "torch": library(torch) if torch else _helper("torch", name),
    }
    return register(
        cls,
        title or f"Elementwise {name}",
        syntax or f"{name}(E)",
        cls,
        scalar_rule,
        spell=spell,
        helpers=helpers or {},
        also=also,
    )


def mapped(f: Callable, name: str, params=("x",), defaults=None, choices=None):
    """Register ``f`` as the language function ``name``: on a scalar f(x, *params), on a matrix entrywise."""

    def build(x, *params):
        if not is_matrix(x):
            if any(map(is_matrix, params)):
                raise ShapeError(
                    f"{name}() of a scalar takes scalar parameters, got {', '.join(map(shape_text, params))}"
                )
            return f(x, *params)
        try:
            return parametrized(f, x, *params)
        except ShapeError as err:  # a parameter that does not broadcast
            raise ShapeError(
                f"{name}(): a parameter is a scalar or broadcasts to the argument's {shape_text(x)}: {err}"
            ) from None

    # a parameter may be a matrix of the argument's shape, a row or a column (PReLU's slope per channel)
    language(name, params, defaults, {p: EITHER for p in params[1:]}, choices=choices)(build)


scalar_function(sp.exp, "exp", r"\exp", "numpy.exp", "torch.exp")
scalar_function(sp.log, "log", r"\log", "numpy.log", "torch.log")
scalar_function(sp.tanh, "tanh", r"\tanh", "numpy.tanh", "torch.tanh")


_sympy_abs_eval = sp.Abs.eval.__func__


@classmethod
def _abs_eval(cls, arg):
    """|x|, left unevaluated on a scalar made from matrices (|sum(H - G)|): SymPy's Abs.eval runs signsimp, which
    pushes a sign into symdiff's nodes as a scalar product (sum(-(G - H)) is no matrix sum, and MatMul refuses
    one). SymPy builds its own Abs from inside (abs(sign(s)) while asking whether a product is an integer), so the
    rule is SymPy's Abs's own."""
    if made_of_matrices(arg):
        return None
    return _sympy_abs_eval(cls, arg)


sp.Abs.eval = _abs_eval


class Abs(sp.Abs):
    """|x| (SymPy's Abs, with the rule above for scalars made from matrices)."""


scalar_function(Abs, "abs", r"\operatorname{abs}", "numpy.abs", "torch.abs", also=(sp.Abs,))
scalar_function(sp.sign, "sign", r"\operatorname{sign}", "numpy.sign", "torch.sign")
scalar_function(
    sigmoid,
    "sigmoid",
    r"\sigma",
    torch="torch.sigmoid",
    helpers={"numpy": {"sigmoid": "def sigmoid(x):\n    return numpy.exp(-numpy.logaddexp(0.0, -x))"}},
)
scalar_function(
    softplus,
    "softplus",
    r"\operatorname{softplus}",
    helpers={
        "numpy": {"softplus": "def softplus(x, beta):\n    return numpy.logaddexp(0.0, beta * x) / beta"},
        "torch": {
            "softplus": "def softplus(x, beta):\n    return torch.logaddexp(torch.zeros_like(x), beta * x) / beta"
        },
    },
    syntax="softplus(E, beta=1)",
)
scalar_function(
    relu,
    "relu",
    r"\operatorname{relu}",
    torch="torch.relu",
    helpers={"numpy": {"relu": "def relu(x):\n    return numpy.maximum(x, 0.0)"}},
)
scalar_function(
    step,
    "step",
    r"\operatorname{step}",
    helpers={
        "numpy": {"step": "def step(x):\n    return (x > 0) * numpy.ones_like(x)"},
        "torch": {"step": "def step(x):\n    return (x > 0).to(x.dtype)"},
    },
)
scalar_function(
    leaky_relu,
    "leaky_relu",
    r"\operatorname{lrelu}",
    helpers={
        "numpy": {"leaky_relu": "def leaky_relu(x, a):\n    return numpy.where(x > 0, x, a * x)"},
        "torch": {"leaky_relu": "def leaky_relu(x, a):\n    return torch.where(x > 0, x, a * x)"},
    },
    syntax="leaky_relu(E, a=0.01)",
)
scalar_function(
    leaky_step,
    "leaky_step",
    r"\operatorname{lstep}",
    helpers={
        "numpy": {"leaky_step": "def leaky_step(x, a):\n    return numpy.where(x > 0, 1.0, a) * numpy.ones_like(x)"},
        "torch": {"leaky_step": "def leaky_step(x, a):\n    return torch.where(x > 0, 1.0, a * torch.ones_like(x))"},
    },
    syntax="leaky_step(E, a=0.01)",
)
scalar_function(log1p, "log1p", r"\operatorname{log1p}", "numpy.log1p", "torch.log1p")
scalar_function(expm1, "expm1", r"\operatorname{expm1}", "numpy.expm1", "torch.expm1")
scalar_function(
    erf,
    "erf",
    r"\operatorname{erf}",
    torch="torch.special.erf",
    helpers={
        "numpy": {"erf": "def erf(x):\n    import math\n\n    return numpy.vectorize(math.erf, otypes=[float])(x)"}
    },
)
scalar_function(
    gelu,
    "gelu",
    r"\operatorname{gelu}",
    helpers={
        "numpy": {"gelu": "def gelu(x):\n    return x / 2 * (1 + erf(x / numpy.sqrt(2.0)))"},
        "torch": {"gelu": "def gelu(x):\n    return torch.nn.functional.gelu(x)"},
    },
    syntax='gelu(E), gelu(E, approximate="tanh")',
)
scalar_function(
    gelu_tanh,
    "gelu_tanh",
    r"\operatorname{gelu}_{\tanh}",
    text=lambda printer, e, **kw: f'gelu({printer._print(e.args[0])}, approximate="tanh")',
    helpers={
        "numpy": {
            "gelu_tanh": "def gelu_tanh(x):\n"
            "    return x / 2 * (1 + numpy.tanh(numpy.sqrt(2 / numpy.pi) * (x + 0.044715 * x**3)))"
        },
        "torch": {"gelu_tanh": 'def gelu_tanh(x):\n    return torch.nn.functional.gelu(x, approximate="tanh")'},
    },
    title="Elementwise gelu (tanh approximation)",
    syntax='gelu(E, approximate="tanh")',
)
scalar_function(
    silu,
    "silu",
    r"\operatorname{silu}",
    helpers={
        "numpy": {"silu": "def silu(x):\n    return x * sigmoid(x)"},
        "torch": {"silu": "def silu(x):\n    return torch.nn.functional.silu(x)"},
    },
)
scalar_function(
    clip,
    "clip",
    r"\operatorname{clip}",
    helpers={
        "numpy": {"clip": "def clip(x, lo, hi):\n    return numpy.clip(x, lo, hi)"},
        "torch": {  # torch.clamp takes both bounds as numbers or both as tensors
            "clip": "def clip(x, lo, hi):\n"
            "    if isinstance(lo, torch.Tensor) != isinstance(hi, torch.Tensor):\n"
            "        lo, hi = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (lo, hi))\n"
            "    return torch.clamp(x, lo, hi)"
        },
    },
    syntax="clip(E, lo, hi)",
)
scalar_function(
    clip_step,
    "clip_step",
    r"\operatorname{clipstep}",
    helpers={
        "numpy": {"clip_step": "def clip_step(x, lo, hi):\n    return ((x >= lo) & (x <= hi)) * numpy.ones_like(x)"},
        "torch": {"clip_step": "def clip_step(x, lo, hi):\n    return ((x >= lo) & (x <= hi)).to(x.dtype)"},
    },
    syntax="clip_step(E, lo, hi)",
)
scalar_function(
    tie_step,
    "tie_step",
    r"\operatorname{tiestep}",
    helpers={
        "numpy": {"tie_step": "def tie_step(x):\n    return (numpy.sign(x) + 1) / 2"},
        "torch": {"tie_step": "def tie_step(x):\n    return (torch.sign(x) + 1) / 2"},
    },
)

scalar_function(
    safe_recip,
    "safe_recip",
    r"\operatorname{recip}_0",
    helpers={  # 1 / x computed where x != 0 only, so no division by zero is evaluated
        "numpy": {
            "safe_recip": "def safe_recip(x):\n    return numpy.where(x != 0, 1 / numpy.where(x != 0, x, 1.0), 0.0)"
        },
        "torch": {
            "safe_recip": "def safe_recip(x):\n"
            "    return torch.where(x != 0, 1 / torch.where(x != 0, x, torch.ones_like(x)), torch.zeros_like(x))"
        },
    },
)


for _f, _name in [(sp.exp, "exp"), (sp.log, "log"), (sp.tanh, "tanh"), (sp.sqrt, "sqrt"), (Abs, "abs")]:
    mapped(_f, _name)
for _f in (sp.sign, sigmoid, relu, step, log1p, expm1, erf, silu, tie_step, safe_recip):
    mapped(_f, _f.__name__)
mapped(leaky_relu, "leaky_relu", ("x", "a"), {"a": sp.Rational(1, 100)})
mapped(leaky_step, "leaky_step", ("x", "a"), {"a": sp.Rational(1, 100)})
mapped(softplus, "softplus", ("x", "beta"), {"beta": sp.S.One})
mapped(clip, "clip", ("x", "lo", "hi"))
mapped(clip_step, "clip_step", ("x", "lo", "hi"))


def _gelu(x, approximate="none"):
    return gelu_tanh(x) if approximate == "tanh" else gelu(x)


mapped(_gelu, "gelu", ("x", "approximate"), {"approximate": "none"}, {"approximate": ("none", "tanh")})
