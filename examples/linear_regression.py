"""Derive the gradients of batch linear regression (seed 000, TP1), check them, and print the derivation.

python examples/linear_regression.py            # closed forms and exact checks
python examples/linear_regression.py --markdown # the step-by-step derivation
"""

import sys

import symdiff as sd
from symdiff import latex

q, n, p = sd.dims("q n p")
X, W = sd.matrix("X", q, n), sd.matrix("W", n, p)
b, Y = sd.matrix("b", 1, p), sd.matrix("Y", q, p)
Yhat = sd.matrix("Yhat", q, p)

# Named intermediates make the derivation step by step: Yhat = XW + 1b, C = (1/q)||Yhat - Y||^2.
forward = {Yhat: sd.parse("X @ W + b", X=X, W=W, b=b)}
loss = sd.parse("sum((Yhat - Y)**2) / q", Yhat=Yhat, Y=Y, q=q)
d = sd.derive(loss, wrt=[W, b], intermediates=forward, output_name="C")

checks = {}
for name in d.wrt:
    checks[name] = sd.verify.exact(d.output_expr, d.inputs[name], d.closed_form(name))
    if "--markdown" not in sys.argv:
        print(f"dC/d{name} = {sd.text(d.gradients[name])} = {sd.text(d.closed_form(name))}")
        print(f"    {checks[name].summary()}")

if "--markdown" in sys.argv:
    print(latex.render_markdown(latex.document_blocks(d, "Batch linear regression", checks=checks)))
sys.exit(0 if all(c.ok for c in checks.values()) else 1)
