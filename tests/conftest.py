import math

import pytest

from symdiff import catalog
from symdiff.verify.exact import check_gradient


@pytest.fixture(scope="session")
def derived():
    """(spec, derivation, exact checks) of a catalog spec, computed once per test session."""
    cache = {}

    def get(name):
        if name not in cache:
            spec = catalog.load(name)
            d = spec.derive()
            # no time budget: the committed documents record these checks, the same on every machine
            checks = {w: check_gradient(d, w, spec.size_values(), budget=math.inf) for w in d.wrt}
            cache[name] = (spec, d, checks)
        return cache[name]

    return get


# the batch linear regression loss of seed 000, as typed on the command line
GRADIENT_SPECS = [n for n in catalog.names() if catalog.load(n).kind == "gradient"]  # specs with generated code
LINEAR_MSE_ARGS = ["sum((X @ W + b - Y)**2) / q", "--shape", "X=q,n", "W=n,p", "b=1,p", "Y=q,p"]
