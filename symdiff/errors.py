"""Errors symdiff raises for bad input; each names what was wrong."""


class SymdiffError(Exception):
    """Base class of every error symdiff raises on purpose."""


class ParseError(SymdiffError, ValueError):
    """An expression string uses something outside the expression language."""


class ShapeError(SymdiffError, ValueError):
    """Operands of an operation have incompatible shapes."""


class UnsupportedError(SymdiffError, NotImplementedError):
    """An operation or function has no differentiation rule."""


class CodegenError(SymdiffError, ValueError):
    """A derivation or option code generation cannot take (a Jacobian, an unknown backend)."""


class InputError(SymdiffError, TypeError, ValueError):
    """An argument symdiff cannot take: the wrong kind of object, or an unknown option."""


class InternalError(SymdiffError):
    """SymPy failed inside a derivation symdiff should have handled: a symdiff bug, reported with the input."""
