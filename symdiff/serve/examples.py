"""The examples the form offers, one click away: typed expressions (each a query of the form), then the
catalog's derivations by name."""

from __future__ import annotations

EXAMPLES = [
    {
        "label": "Linear regression (batch, MSE)",
        "expr": "sum((X @ W + b - Y)**2) / q",
        "shapes": "X=q,n W=n,p b=1,p Y=q,p",
        "wrt": "W b",
    },
    {
        "label": "Softmax cross-entropy with integer labels",
        "expr": "-mean(take(log_softmax(X @ W + b, axis=1), y, axis=1))",
        "shapes": "X=N,d W=d,C b=1,C y=N,1",
        "wrt": "W b",
    },
    {
        "label": "Batch norm, then a squared loss",
        "expr": "sum((batchnorm(X, gamma, beta) - Y)**2)",
        "shapes": "X=B,p gamma=1,p beta=1,p Y=B,p",
        "wrt": "X gamma beta",
    },
    {
        "label": "Two-layer tanh network",
        "expr": "sum((tanh(X @ W1 + b1) @ W2 - Y)**2) / 2",
        "shapes": "X=N,d W1=d,h b1=1,h W2=h,k Y=N,k",
        "wrt": "W1 b1 W2",
    },
    {
        "label": "Gaussian log-likelihood in a symmetric covariance",
        "expr": "logdet(S) + trace(inv(S) @ A)",
        "shapes": "S=n,n:spd A=n,n",
        "wrt": "S",
    },
    {
        "label": "Jacobian of softmax",
        "expr": "softmax(x)",
        "shapes": "x=n,1",
        "wrt": "x",
        "kind": "jacobian",
    },
    {
        "label": "Hessian of log-sum-exp",
        "expr": "logsumexp(x)",
        "shapes": "x=n,1",
        "wrt": "x",
        "kind": "hessian",
    },
    {
        "label": "HVP of logistic regression",
        "expr": "sum(log1p(exp(-y * (X @ w))))",
        "shapes": "X=N,d w=d,1 y=N,1",
        "wrt": "w",
        "kind": "hvp",
    },
    {
        "label": "Packed GRU-style gate (split)",
        "expr": "sum(sigmoid(split(X @ W.T, (h, h, h), axis=1)[0]) * G)",
        "shapes": "X=N,d W=3*h,d G=N,h",
        "wrt": "W",
    },
]
