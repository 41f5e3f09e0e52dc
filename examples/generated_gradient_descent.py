"""Gradient descent for linear regression with the generated numpy backward (symdiff/generated).

    python examples/generated_gradient_descent.py

Fits Yhat = X W + b to synthetic data with the forward/backward module symdiff
generated from derivations/000_linear_regression_batch.toml, and compares the
result with numpy's least-squares solution.
"""

import numpy as np

from symdiff.generated import load

linear = load("000_linear_regression_batch", "numpy")
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 3))
W_true, b_true = np.array([[1.0], [-2.0], [0.5]]), np.array([[0.3]])
Y = X @ W_true + b_true + 0.01 * rng.normal(size=(200, 1))

W, b = np.zeros((3, 1)), np.zeros((1, 1))
for step in range(500):
    loss, saved = linear.forward(X, W, b, Y)
    grads = linear.backward(saved, wanted=("W", "b"))
    W, b = W - 0.1 * grads["W"], b - 0.1 * grads["b"]
    if step % 100 == 0:
        print(f"step {step:3d}  loss {loss:.6f}")

A = np.hstack([X, np.ones((200, 1))])
solution = np.linalg.lstsq(A, Y, rcond=None)[0]
gap = np.max(np.abs(np.vstack([W, b]) - solution))
print(f"final loss {linear.forward(X, W, b, Y)[0]:.6f}; max distance to least squares {gap:.2e}")
assert gap < 1e-6
