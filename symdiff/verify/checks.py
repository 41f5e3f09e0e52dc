"""``sd.check``: a derivation's checks, whatever its order."""

from __future__ import annotations

from ..errors import SymdiffError
from . import gradcheck, second_order


def check(d, *args, double_backward=None, progress: bool = False, **options) -> gradcheck.CheckReport:
    """``gradcheck.check`` of a gradient derivation (its Function's double backward too, given one), and
    ``second_order.check`` of an HVP or a Hessian; both take the same arguments otherwise."""
    if d.kind not in ("hvp", "hessian"):
        return gradcheck.check(d, *args, double_backward=double_backward, progress=progress, **options)
    if double_backward is not None:
        raise SymdiffError("a double backward is the torch Function of a gradient's; this is an HVP or a Hessian")
    return second_order.check(d, *args, **options)
