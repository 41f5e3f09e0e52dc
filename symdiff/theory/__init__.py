"""Optimization theory the seeds prove by hand, proved with SymPy and confirmed numerically.

A proof spec (``derivations/proofs/*.toml``, ``kind = "proof"``) names one of
the proofs below and states the forms it is about in the expression language;
the proof parses those forms, so a wrong form is a failed proof. A proof is a
SymPy reduction of a difference to zero (``expand``, ``cancel``) or an
identity SymPy verifies, never agreement at a few numbers; each proof also
runs a numeric confirmation and writes its document as blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SymdiffError


@dataclass
class ProofResult:
    """What a proof established: ``ok`` when every identity reduced to zero and every numeric check agreed."""

    ok: bool
    summary: str  # one line for the catalog table
    blocks: list = field(default_factory=list)  # the document (latex.Block)
    failures: list = field(default_factory=list)  # what did not hold


def parse_form(forms: dict, key: str, symbols: dict):
    """The spec's form ``key`` parsed over ``symbols`` (the expression language, never eval), named in errors."""
    from ..parse import parse

    if key not in forms:
        raise SymdiffError(f"the proof needs the form {key}, which the spec's [forms] lacks")
    try:
        return parse(forms[key], **symbols)
    except SymdiffError as err:
        raise SymdiffError(f"form {key} = {forms[key]!r}: {err}") from None


def document_head(title: str, source: str, notes: str) -> list:
    """The blocks every proof document starts with: its title, source and notes."""
    from ..latex.document import Block

    return [Block("heading", title), Block("text", f"Source: {source}."), *([Block("text", notes)] if notes else [])]


def png(fig) -> bytes:
    """A matplotlib figure as PNG bytes with no software stamp (the same bytes for the same plot), closed."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def proofs() -> dict:
    """Proof name -> function(forms: dict of texts, title, source, notes, **data) -> ProofResult."""
    from . import costs, momentum, stepsize, vanishing

    return {
        "momentum_forms": momentum.momentum_forms,
        "nesterov": momentum.nesterov,
        "step_size": stepsize.step_size,
        "vanishing_gradients": vanishing.vanishing_gradients,
        "conv_costs": costs.conv_costs,
    }


def prove(name: str, forms: dict, title: str = "", source: str = "", notes: str = "", data=None) -> ProofResult:
    """Run the proof ``name`` on the spec's forms (and its ``[data]`` tables, passed as keywords)."""
    known = proofs()
    if name not in known:
        raise SymdiffError(f"no proof named {name!r} (known: {', '.join(sorted(known))})")
    return known[name](forms, title=title, source=source, notes=notes, **(data or {}))
