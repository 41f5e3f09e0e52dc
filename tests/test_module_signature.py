"""A generated module's signature and names: forward takes its inputs in the order declared, and docstrings
write the user's names."""

import symdiff as sd
from symdiff import catalog, codegen
from symdiff.target import resolve, spec_module


def test_forward_takes_its_inputs_in_the_order_declared():
    """Targets no longer come first because T sorts before X: --shape's order, the spec's, or derive(inputs=)."""
    typed = resolve("sum(T * log_softmax(X, axis=1))", ["X=q,n", "T=q,n"], ["X"]).derivation
    source = codegen.emit(typed, "torch", parameters=[])
    assert "def forward(X, T):" in source and 'INPUTS = ("X", "T")' in source
    spec = catalog.load("005_softmax_cross_entropy_batch")
    assert "def forward(Z, T):" in spec_module(spec, spec.derive(), "numpy")
    layer = catalog.load("002_batch_mean_loss")
    assert "    def forward(self, X, T):" in spec_module(
        layer, layer.derive(), "torch"
    )  # the Module's, parameters held
    q, n = sd.dims("q n")
    X, T = sd.matrix("X", q, n), sd.matrix("T", q, n)
    loss = sd.parse("sum(T * X)", X=X, T=T)
    assert list(sd.derive(loss, [X]).inputs) == ["T", "X"]  # no order given: alphabetical
    assert list(sd.derive(loss, [X], inputs=["X", T]).inputs) == ["X", "T"]


def test_docstrings_write_renamed_inputs_under_the_users_names():
    """An input renamed in the code (grads -> grads_) is still grads in the docstrings' math, h0 still h_{0}."""
    d = resolve("sum(grads * h0 @ W)", ["grads=q,n", "h0=q,n", "W=n,p"], ["W"]).derivation
    for backend in ("numpy", "torch"):
        source = codegen.emit(d, backend)
        assert "def forward(grads_, h0_, W):" in source
        assert r"\left(grads \odot h_{0}\right) W" in source and "grads_{}" not in source and "h_{0 }" not in source
