import pytest

from symdiff import catalog
from symdiff.verify.exact import exact


@pytest.fixture(scope="session")
def derived():
    """(spec, derivation, exact checks) of a catalog spec, computed once per test session."""
    cache = {}

    def get(name):
        if name not in cache:
            spec = catalog.load(name)
            d = spec.derive()
            checks = {w: exact(d.output_expr, d.inputs[w], d.closed_form(w), spec.size_values()) for w in d.wrt}
            cache[name] = (spec, d, checks)
        return cache[name]

    return get
