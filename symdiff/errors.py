"""Errors symdiff raises for bad input; each names what was wrong."""


class SymdiffError(Exception):
    """Base class of every error symdiff raises on purpose."""


class ParseError(SymdiffError, ValueError):
    """An expression string uses something outside the expression language.

    ``span``: the characters (start, end) of the stripped expression the error is about, where one part is to
    blame (a syntax error, an unknown name); ``symdiff serve`` highlights them.
    """

    def __init__(self, message: str, span: tuple[int, int] | None = None):
        super().__init__(message)
        self.span = span


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
