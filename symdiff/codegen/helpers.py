"""Source of the helper functions generated modules define, per backend.

Each helper is written in its numerically stable form (sigmoid and softplus
through logaddexp; softmax, log_softmax and log-sum-exp with the max shift); a module
includes only the helpers its code calls, in this order.
"""

NUMPY = {
    "sigmoid": """def sigmoid(x):
    return numpy.exp(-numpy.logaddexp(0.0, -x))""",
    "softplus": """def softplus(x, beta):
    return numpy.logaddexp(0.0, beta * x) / beta""",
    "relu": """def relu(x):
    return numpy.maximum(x, 0.0)""",
    "step": """def step(x):
    return (x > 0) * numpy.ones_like(x)""",
    "leaky_relu": """def leaky_relu(x, a):
    return numpy.where(x > 0, x, a * x)""",
    "leaky_step": """def leaky_step(x, a):
    return numpy.where(x > 0, 1.0, a) * numpy.ones_like(x)""",
    "softmax": """def softmax(x, axis):
    e = numpy.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)""",
    "log_softmax": """def log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=axis, keepdims=True))""",
    "logsumexp": """def logsumexp(x, axis):
    top = x.max(axis=axis, keepdims=True)
    return top + numpy.log(numpy.exp(x - top).sum(axis=axis, keepdims=True))""",
    "logsumexp_all": """def logsumexp_all(x):
    top = x.max()
    return top + numpy.log(numpy.exp(x - top).sum())""",
    "softmax_all": """def softmax_all(x):
    e = numpy.exp(x - x.max())
    return e / e.sum()""",
    "batch_std": """def batch_std(x, eps):
    return numpy.sqrt(x.var(axis=0, keepdims=True) + eps)""",
    "batch_normalize": """def batch_normalize(x, eps):
    return (x - x.mean(axis=0, keepdims=True)) / batch_std(x, eps)""",
    "batchnorm": """def batchnorm(x, gamma, beta, eps):
    return gamma * batch_normalize(x, eps) + beta""",
    "logdet": """def logdet(a):
    return numpy.linalg.slogdet(a)[1]""",
}

TORCH = {
    "softplus": """def softplus(x, beta):
    return torch.logaddexp(torch.zeros_like(x), beta * x) / beta""",
    "step": """def step(x):
    return (x > 0).to(x.dtype)""",
    "leaky_relu": """def leaky_relu(x, a):
    return torch.where(x > 0, x, a * x)""",
    "leaky_step": """def leaky_step(x, a):
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a))""",
    "softmax": """def softmax(x, axis):
    return torch.softmax(x, dim=axis)""",
    "log_softmax": """def log_softmax(x, axis):
    return torch.log_softmax(x, dim=axis)""",
    "logsumexp": """def logsumexp(x, axis):
    return torch.logsumexp(x, dim=axis, keepdim=True)""",
    "logsumexp_all": """def logsumexp_all(x):
    return torch.logsumexp(x.reshape(-1), dim=0)""",
    "softmax_all": """def softmax_all(x):
    return torch.softmax(x.reshape(-1), dim=0).reshape(x.shape)""",
    "batch_std": """def batch_std(x, eps):
    return torch.sqrt(x.var(dim=0, unbiased=False, keepdim=True) + eps)""",
    "batch_normalize": """def batch_normalize(x, eps):
    return (x - x.mean(dim=0, keepdim=True)) / batch_std(x, eps)""",
    "batchnorm": """def batchnorm(x, gamma, beta, eps):
    return gamma * batch_normalize(x, eps) + beta""",
    "logdet": """def logdet(a):
    return torch.logdet(a)""",
    "diagflat": """def diagflat(v):
    return torch.diagflat(v)""",
    "ones": """def ones(rows, cols, like):
    return torch.ones(rows, cols, dtype=like.dtype, device=like.device)""",
    "zeros": """def zeros(rows, cols, like):
    return torch.zeros(rows, cols, dtype=like.dtype, device=like.device)""",
    "eye": """def eye(n, like):
    return torch.eye(n, dtype=like.dtype, device=like.device)""",
}

DEPENDS = {"batch_normalize": ["batch_std"], "batchnorm": ["batch_normalize", "batch_std"]}
