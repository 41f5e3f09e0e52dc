"""Rules of neural-network ops with compact fused backward forms.

softmax:      Bridle (1990); the VJP never materializes the Jacobian diag(s) - s s^T.
batchnorm:    Ioffe & Szegedy (2015), section 3, in the compact form of seed 002 (3.2 a).
"""

from ..ops import (
    BatchNorm,
    BatchNormalize,
    BatchStd,
    LogSoftmax,
    Softmax,
    add,
    axis_sum,
    broadcast,
    hadamard,
    hpow,
    scale,
)
from . import vjp


def _spread(m, like, axis):
    """axis_sum(m, axis) broadcast back to the shape of ``like``."""
    return broadcast(axis_sum(m, axis), *like.shape)


@vjp(Softmax)
def grad_softmax(ans, g, a, axis):
    r"""$S = \operatorname{softmax}(A)$: $\bar A = S \odot (\bar S - \mathbf{1}\,\operatorname{sum}(\bar S \odot S))$."""
    return hadamard(ans, add(g, scale(-1, _spread(hadamard(g, ans), ans, int(axis))))), None


@vjp(LogSoftmax)
def grad_log_softmax(ans, g, a, axis):
    r"""$Y = \log\operatorname{softmax}(A)$: $\bar A = \bar Y - \operatorname{softmax}(A) \odot \mathbf{1}\operatorname{sum}(\bar Y)$."""
    return add(g, scale(-1, hadamard(Softmax(a, axis), _spread(g, a, int(axis))))), None


def _normalize_grad(g_hat, x_hat, std):
    r"""$\bar X = \frac{1}{q}\,\sigma^{-1} \odot (q \bar{\hat X} - \mathbf{1}^T\bar{\hat X} - \hat X \odot \mathbf{1}^T(\bar{\hat X} \odot \hat X))$."""
    q = x_hat.shape[0]
    inner = add(
        scale(q, g_hat),
        scale(-1, _spread(g_hat, x_hat, 0)),
        scale(-1, hadamard(x_hat, _spread(hadamard(g_hat, x_hat), x_hat, 0))),
    )
    return scale(1 / q, hadamard(broadcast(hpow(std, -1), *x_hat.shape), inner))


@vjp(BatchNormalize)
def grad_batch_normalize(ans, g, x, eps):
    r"""$\hat X = (X - \mu)/\sigma$ per column: $\bar X = \frac{1}{q}\sigma^{-1}(q\bar{\hat X} - \sum_s \bar{\hat X} - \hat X \sum_s \bar{\hat X} \odot \hat X)$."""
    return _normalize_grad(g, ans, BatchStd(x, eps)), None


@vjp(BatchStd)
def grad_batch_std(ans, g, x, eps):
    r"""$\sigma = \sqrt{\operatorname{var} + \epsilon}$ per column: $\bar X = \frac{1}{q} \hat X \odot \mathbf{1}\bar\sigma$."""
    q = x.shape[0]
    return scale(1 / q, hadamard(BatchNormalize(x, eps), broadcast(g, *x.shape))), None


@vjp(BatchNorm)
def grad_batchnorm(ans, g, x, gamma, beta, eps):
    r"""$Y = \gamma \odot \hat X + \beta$: $\bar\beta = \mathbf{1}^T \bar Y$, $\bar\gamma = \mathbf{1}^T(\bar Y \odot \hat X)$,
    $\bar X$ = the normalize rule applied to $\bar{\hat X} = \bar Y \odot \gamma$ (seed 002, 3.2 a)."""
    x_hat = BatchNormalize(x, eps)
    g_hat = hadamard(g, broadcast(gamma, *x.shape))
    return (
        _normalize_grad(g_hat, x_hat, BatchStd(x, eps)),
        axis_sum(hadamard(g, x_hat), 0),
        axis_sum(g, 0),
        None,
    )
