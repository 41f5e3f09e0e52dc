"""Jacobians in denominator layout, and closed forms a person would write."""

import warnings

import pytest
import sympy as sp
from sympy.matrices.expressions.diagonal import DiagMatrix

import symdiff as sd
from symdiff.verify.exact import exact, same

m, n, q, p = sd.dims("m n q p")
A = sd.matrix("A", m, n)
x = sd.matrix("x", n, 1)
X, W = sd.matrix("X", q, n), sd.matrix("W", n, p)
b, Y = sd.matrix("b", 1, p), sd.matrix("Y", q, p)
ENV = dict(A=A, x=x, X=X, W=W, b=b, Y=Y, q=q, n=n, p=p, m=m)


def test_jacobian_of_Ax_is_A_transpose():
    J = sd.jacobian(sd.parse("A @ x", **ENV), x)
    assert J == A.T
    assert exact(sd.parse("A @ x", **ENV), x, J).ok


def test_softmax_jacobian_is_diag_minus_outer_product():
    y = sd.parse("softmax(x)", **ENV)
    J = sd.jacobian(y, x)
    assert J.shape == (n, n)
    assert same(J, sd.parse("diag(softmax(x)) - softmax(x) @ softmax(x).T", **ENV), {n: 3}).ok
    assert J.atoms(DiagMatrix) and "@" in sd.text(J)  # the closed form, not an entrywise table
    assert exact(y, x, J, {n: 3}).ok


@pytest.mark.parametrize("activation", ["sigmoid(x)", "tanh(x)", "relu(x)", "leaky_relu(x, 0.3)", "exp(x)"])
def test_elementwise_activation_jacobian_is_diagonal(activation):
    y = sd.parse(activation, **ENV)
    J = sd.jacobian(y, x)
    assert isinstance(J, DiagMatrix)
    assert exact(y, x, J, {n: 3}).ok


def test_jacobian_needs_column_vectors():
    with pytest.raises(sd.ShapeError, match="column vectors"):
        sd.jacobian(sd.parse("x.T", **ENV), x)


def test_linear_regression_closed_form_reads_as_written_by_hand():
    loss = sd.parse("sum((X @ W + b - Y)**2) / q", **ENV)
    assert sd.text(sd.grad(loss, W)) == "2/q * X.T @ (X @ W + b - Y)"
    assert sd.text(sd.grad(loss, b)) == "2/q * sum(X @ W + b - Y, axis=0)"


def test_repeated_terms_are_collected():
    """SymPy 1.14 returns X^T(s' o s) + X^T(s' o s) here; symdiff writes one term."""
    loss = sd.parse("trace(sigmoid(X @ W).T @ sigmoid(X @ W))", **ENV)
    g = sd.grad(loss, W)
    assert sd.text(g).count("X.T") == 1
    assert not isinstance(g, sp.MatAdd)
    assert exact(loss, W, g, {q: 2, n: 3, p: 2}).ok


def test_ones_products_stay_sums_and_broadcasts():
    g = sd.grad(sd.parse("sum((X @ W + b - Y)**2)", **ENV), b)
    assert not g.atoms(sp.OneMatrix)


def test_tied_weights_sum_both_contributions():
    Q = sd.matrix("Q", n, p)
    loss = sd.parse("sum((X - X @ Q @ Q.T)**2)", X=X, Q=Q)
    g = sd.grad(loss, Q)
    assert exact(loss, Q, g, {q: 2, n: 3, p: 2}).ok
    assert sd.text(g).count("X.T") == 1 and sd.text(g).count(".T @ X") == 1  # encoder and decoder terms


def test_missing_variable_gives_zero_with_warning():
    with pytest.warns(UserWarning, match="does not occur"):
        g = sd.grad(sd.parse("sum(X)", **ENV), W)
    assert g == sp.ZeroMatrix(n, p)


def test_a_variable_that_cancels_is_not_called_missing():
    x = sd.matrix("x", 3, 1)
    with pytest.warns(UserWarning, match="with respect to x is identically zero"):
        d = sd.derive(sd.parse("sum(var(x, axis=1))", x=x), [x])
    assert d.gradients["x"] == sp.ZeroMatrix(3, 1)


def test_a_wrong_call_is_a_type_error_not_a_sympy_failure():
    with pytest.raises(TypeError, match="wrt"):
        sd.grad(sd.parse("sum(X)", **ENV), shapes={})


def test_grad_of_a_matrix_is_refused():
    with pytest.raises(sd.ShapeError, match="scalar expression.*q x p"):
        sd.grad(sd.parse("X @ W", **ENV), W)


def test_dimension_is_not_a_variable():
    with pytest.raises(sd.SymdiffError, match="dimension"):
        sd.grad(sd.parse("sum(X) / q", **ENV), q)


def test_derivation_records_steps():
    R = sd.matrix("R", q, p)
    d = sd.derive(sd.parse("sum(R**2) / q", R=R, q=q), [W, b], {R: sd.parse("X @ W + b - Y", **ENV)}, output_name="C")
    assert [s.name for s in d.forward] == ["R", "C"]
    assert [s.name for s in d.steps] == ["R", "W", "b"]
    assert sd.text(d.step("R").local) == "2/q * R"
    assert sd.text(d.step("W").local) == "X.T @ dC_dR"
    assert sd.text(d.gradients["W"]) == "2/q * X.T @ R"
    assert d.shapes["W"] == (n, p) and d.shapes["R"] == (q, p)
    assert sd.text(d.closed_form("W")) == "2/q * X.T @ (X @ W + b - Y)"


class TestSympyNativeInputs:
    """Plain SymPy matrix expressions, including those SymPy 1.14's own diff gets wrong."""

    A = sp.MatrixSymbol("A", 3, 3)
    v = sp.MatrixSymbol("v", 3, 1)

    def check(self, expr, wrt, sizes=None):
        g = sd.grad(expr, wrt)
        result = exact(expr, wrt, g, sizes or {})
        assert result.ok, result.summary()
        return g

    def test_log_det(self):  # SymPy: 0
        assert sd.text(self.check(sp.log(sp.Determinant(self.A)), self.A)) == "inv(A.T)"

    def test_trace_plus_one(self):  # SymPy: 0
        g = self.check(sp.Trace(self.A) + 1, self.A)
        assert g == sp.Identity(3)

    def test_trace_of_hadamard(self):  # SymPy: a vector instead of a matrix
        B = sp.MatrixSymbol("B", 3, 3)
        g = self.check(sp.Trace(sp.HadamardProduct(B, self.A)), self.A)
        assert g.shape == (3, 3)

    def test_log_sum_exp_of_a_vector(self):  # SymPy: 0
        y = sd.parse("log(sum(exp(v)))", v=self.v)
        g = self.check(y, self.v)
        assert same(g, sd.parse("softmax(v)", v=self.v)).ok

    def test_applyfunc_builtin_and_lambda(self):
        d = sp.Symbol("d")
        self.check(sp.Trace(self.A.applyfunc(sp.sin)), self.A)
        self.check(sp.Trace(self.A.applyfunc(sp.Lambda(d, sp.Piecewise((d**2, d > 0), (-d, True))))), self.A)

    def test_negative_hadamard_power_and_matpow(self):
        self.check(sp.Trace(sp.HadamardPower(self.A, -2)), self.A)
        self.check(sp.Trace(self.A**3), self.A)
        C = sp.MatrixSymbol("C", 2, 2)  # a symbolic 3 x 3 inverse squared is slow to expand
        self.check(sp.Trace(C**-2), C)

    def test_scalar_functions_of_traces(self):
        self.check(sp.sqrt(sp.Trace(self.A.T * self.A)), self.A)

    def test_ones_matrix_products(self):
        self.check(sp.Trace(sp.OneMatrix(1, 3) * self.A * sp.OneMatrix(3, 1)), self.A)


def test_no_warnings_for_ordinary_gradients():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sd.grad(sd.parse("sum(X @ W)", **ENV), W)


# plain SymPy input that used to crash or read badly (issue 10)
k = sd.dims("k")
P, Q, R = (sd.matrix(name, k, k) for name in "PQR")
u = sd.matrix("u", k, 1)
SMALL = {k: 2}


@pytest.mark.parametrize(
    "expr, wrt",
    [
        pytest.param(sp.Trace((P * Q) ** (-2)), P, id="negative power of a product"),
        pytest.param(sp.Trace(sp.Trace(P * Q) * R), P, id="scalar trace factor"),
        pytest.param(
            sp.Trace(-sp.Trace(sp.Inverse(2 * sp.Identity(k) + Q * Q.T)) * Q.T ** (-1) * (sp.Identity(k) - P.T) * P**3),
            P,
            id="trace factor with inverse and powers",
        ),
        pytest.param(
            sp.Trace(-sp.Trace(sp.Inverse(2 * sp.Identity(k) + Q * Q.T)) * Q.T ** (-1) * (sp.Identity(k) - P.T) * P**3),
            Q,
            id="trace factor with inverse and powers, other variable",
        ),
    ],
)
def test_plain_sympy_gradients_are_right(expr, wrt):
    g = sd.grad(expr, wrt)
    assert exact(expr, wrt, g, SMALL).ok


def test_a_scalar_trace_factor_reads_as_a_trace():
    assert sd.text(sd.grad(sp.Trace(sp.Trace(P * Q) * R), P)) == "trace(R) * Q.T"


def test_plain_sympy_softmax_jacobian():
    e = u.applyfunc(sp.exp)
    y = e / sp.Trace(sp.OneMatrix(1, k) * e)
    J = sd.jacobian(y, u)
    assert exact(y, u, J, {k: 3}).ok
    assert same(J, sd.parse("diag(softmax(u)) - softmax(u) @ softmax(u).T", u=u), {k: 3}).ok


def test_variables_may_be_named():
    assert sd.grad(sd.parse("sum(P * P)", P=P), "P") == sd.grad(sd.parse("sum(P * P)", P=P), P)
    assert sd.jacobian(u, "u") == sd.jacobian(u, u)
    assert sd.derive(sd.parse("sum(P * Q)", P=P, Q=Q), ["Q"]).gradients["Q"] == P


def test_plain_sympy_log_sum_exp_gradient_reads_softmax():
    loss = sp.log(sp.Trace(sp.OneMatrix(1, k) * u.applyfunc(sp.exp)))
    assert sd.text(sd.grad(loss, u)) == "softmax(u)"
    assert sd.text(sd.grad(sd.parse("log(sum(exp(u)))", u=u), u)) == "softmax(u)"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: sd.grad(sp.I * sp.Trace(P), P), sd.UnsupportedError, "contains I"),
        (lambda: sd.grad(sp.nan * sp.Trace(P), P), sd.UnsupportedError, "contains nan"),
        (lambda: sd.grad(sp.oo * sp.Trace(P), P), sd.UnsupportedError, "contains oo"),
        (lambda: sd.jacobian(sp.zoo * u, u), sd.UnsupportedError, "contains zoo"),
        (lambda: sd.grad(sp.Trace(P * Q), P * Q), sd.InputError, "matrix or scalar symbol, got P\\*Q"),
        (lambda: sd.grad(sp.Trace(P), 3), sd.InputError, "got 3"),
        (lambda: sd.grad("trace(P)", P), sd.InputError, "got str 'trace\\(P\\)'"),
        (lambda: sd.grad(sp.Trace(P), "Q"), sd.InputError, "'Q' is not a symbol of the expression \\(its symbols: P"),
        (lambda: sd.derive(sp.Trace(P), ["R"]), sd.InputError, "'R' is not a symbol"),
        (lambda: sd.jacobian(u, "x"), sd.InputError, "'x' is not a symbol"),
        (lambda: sd.grad(sp.Function("f")(sp.Trace(P)), P), sd.UnsupportedError, "no derivative known for f"),
        (lambda: sd.grad(sp.Trace(P[0:1, 0:1]), P), sd.UnsupportedError, "no differentiation rule for MatrixSlice"),
        (lambda: sd.grad(sp.Trace(sp.MatPow(P, k)), P), sd.UnsupportedError, "exponent k"),
        (lambda: sd.derive(sp.Trace(P), 3), sd.InputError, "symbol, got 3"),
        (lambda: sd.matrix("A", "q", 3), sd.InputError, r"matrix\('A', 'q', 3\): rows is the string 'q'.*sd.dims"),
        (lambda: sd.matrix("A", 2, 0), sd.InputError, "cols must be a positive integer .* got 0"),
        (lambda: sd.matrix("A", 2.5, 1), sd.InputError, "rows must be a positive integer .* got 2.5"),
        (lambda: sd.matrix("A", sp.Symbol("m"), 1), sd.InputError, "rows must be .*positive integer symbol.* got m"),
        (lambda: sd.matrix(None, 1, 1), sd.InputError, "the name must be a non-empty string, got None"),
        (lambda: sd.scalar(""), sd.InputError, "the name must be a non-empty string"),
    ],
)
def test_api_misuse_is_a_symdiff_error_naming_the_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_single_variable_needs_no_list():
    """derive(expr, x) with x a matrix: iterating x would give its entries (x[0, 0]); it means [x]."""
    d = sd.derive(sp.Trace(P.T * P), P)
    assert d.wrt == ["P"] and d.gradients["P"] == 2 * P
    assert sd.derive_jacobian(u, u).gradients["u"] == sp.Identity(u.shape[0])


def test_a_failure_inside_sympy_is_reported_with_the_expression(monkeypatch):
    """Whatever SymPy raises while differentiating becomes an InternalError naming the input."""
    import symdiff.derivation as derivation

    def broken(*args, **kwargs):
        raise TypeError("Mix of Matrix and Scalar symbols")

    monkeypatch.setattr(derivation, "backward", broken)
    with pytest.raises(sd.InternalError, match=r"differentiating Trace\(P\): TypeError: Mix of Matrix"):
        sd.grad(sp.Trace(P), P)
