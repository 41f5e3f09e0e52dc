"""``symdiff serve``: the application's routes through Flask's test client, its jobs' time limit, and the
generated code's step comments against the documents' steps."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import torch

import symdiff
from symdiff import catalog
from symdiff.errors import SymdiffError
from symdiff.limits import MAX_CHARS
from symdiff.serve import jobs
from symdiff.serve.app import create_app
from symdiff.serve.code import linked_lines
from symdiff.serve.examples import EXAMPLES
from symdiff.target import resolve

LINEAR = {"expr": "sum((X @ W + b - Y)**2) / q", "shapes": "X=q,n W=n,p b=1,p Y=q,p", "wrt": "W b"}
# minutes of SymPy expansion in its exact check: a legitimate input that runs past any short limit
SLOW = {"expr": "sum(softmax(softmax(softmax(X @ W, axis=1) @ W, axis=1) @ W, axis=1))", "shapes": "X=n,n W=n,n"}
SLOW["wrt"] = "W"


@pytest.fixture(scope="module")
def client():
    return create_app(time_limit=60).test_client()


def page(client, **query) -> str:
    response = client.get("/?" + urlencode(query))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_form_offers_every_option_and_the_examples(client):
    html = page(client)
    for name in ("expr", "shapes", "wrt", "kind", "notation", "backend", "convention"):
        assert f'name="{name}"' in html
    for kind in ("gradient", "jacobian", "hessian", "hvp"):
        assert f'<option value="{kind}"' in html
    for example in EXAMPLES:
        assert example["label"] in html
    assert 'src="/static/app.js"' in html and "https://" not in html  # every script and style from the package


def test_the_linear_regression_page_has_the_closed_form_checks_code_and_document(client):
    html = page(client, **LINEAR)
    assert "2/q * X.T @ (X @ W + b - Y)" in html and "2/q * sum(X @ W + b - Y, axis=0)" in html
    assert html.count("<math") > 5  # the closed forms and the document, as MathML
    assert 'id="overall">PASS' in html
    assert "vs finite differences" in html and "vs torch autograd" in html and "exact entrywise check" in html
    assert 'src="data:image/png;base64,' in html  # the checks' figure
    assert 'id="step-1"' in html and 'id="step-2"' in html
    # each backward line that computes a step names it, and the page links it (data-step)
    assert re.search(r'<span class="line" data-step="1">\s+# df/dW: step 1, Matrix product rule', html)
    share = re.search(r'id="share" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert share.startswith("http://localhost/?") and client.get(share.split("localhost", 1)[1]).status_code == 200


def test_every_example_derives_and_passes(client):
    for example in EXAMPLES:
        html = page(client, **example)
        assert 'class="error"' not in html, example["label"]
        assert 'id="overall">PASS' in html or "a Jacobian has no generated code" in html, example["label"]


def test_the_downloaded_module_imports_and_agrees_with_autograd(client, tmp_path):
    response = client.get("/module/torch.py?" + urlencode(LINEAR))
    assert response.status_code == 200
    assert 'attachment; filename="symdiff_' in response.headers["Content-Disposition"]
    path = tmp_path / "downloaded.py"
    path.write_bytes(response.data)
    assert_linear_regression_module(path)


def assert_linear_regression_module(path):
    """The module at ``path`` imports, and its Function's gradients in W and b agree with torch autograd of the
    linear regression's loss written here."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    X, W, b, Y = (torch.tensor(rng.standard_normal(s)) for s in ((6, 3), (3, 2), (1, 2), (6, 2)))
    W.requires_grad_(), b.requires_grad_()
    module.Function.apply(X, W, b, Y).backward()
    ours = W.grad.clone(), b.grad.clone()
    W.grad = b.grad = None
    (((X @ W + b - Y) ** 2).sum() / 6).backward()
    torch.testing.assert_close(ours, (W.grad, b.grad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "query, field, message, marked",
    [
        ({"expr": "__import__('os').system('touch /tmp/x')", "wrt": "X"}, "expr", "double underscores", "__import__"),
        ({"expr": "sum(open('/etc/passwd'))", "wrt": "X"}, "expr", "unknown function open", "open('/etc/passwd')"),
        ({"expr": "sum(X @ )", "shapes": "X=n,n", "wrt": "X"}, "expr", "syntax error", ")"),
        ({"expr": "sum(X.sum())", "shapes": "X=n,n", "wrt": "X"}, "expr", "calling .sum", "X.sum()"),
        ({"expr": "sum(X @ W)", "shapes": "X=n,n W=3,n", "wrt": "W"}, "expr", "", None),
        ({"expr": "sum(X)", "shapes": "X=n", "wrt": "X"}, "shapes", "Shapes entries look like", None),
        ({"expr": "sum(X)", "shapes": "X=n,n X=m,m", "wrt": "X"}, "shapes", "X has a shape already", None),
        ({"expr": "sum(X)", "shapes": "X=100000,100000", "wrt": "X"}, "shapes", "a side of 100,000", None),
        ({"expr": "sum(X)", "shapes": "X=999+999,1", "wrt": "X"}, "shapes", "a side of 1,998", None),
        (
            {"expr": "sum(X)", "shapes": "X=n*n*n*n*n,n", "wrt": "X"},
            "shapes",
            "a side of 3,125 (named dims at 5)",
            None,
        ),
        (
            {"expr": "sum(X) * 1" + "9" * 5000, "shapes": "X=n,n", "wrt": "X"},
            "expr",
            "integer of over 4,300 digits",
            None,
        ),
        ({"expr": "sum(X)", "shapes": "X=n,n", "wrt": ""}, "wrt", "with respect to (Variables)", None),
        ({"expr": "derivations/000_chain_rule.toml"}, "expr", "reads a file", None),  # no file is read
        ({"expr": "sum(X)", "shapes": "X=n,n", "wrt": "Z"}, "wrt", "Variables Z: not in the expression", None),
    ],
)
def test_errors_are_shown_next_to_their_field(client, query, field, message, marked):
    html = page(client, **query)
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert error is not None, html[-3000:]
    assert message in error.group(1).replace("&#39;", "'")
    assert "Traceback" not in html
    if marked:
        assert f"<mark>{marked}</mark>" in html.replace("&#39;", "'")


def test_a_scalar_variable_and_a_warning_reach_the_page(client):
    html = page(client, expr="sum(X)", shapes="", wrt="X")  # X a scalar: its gradient is the number 1
    assert 'id="overall">PASS' in html
    html = page(client, expr="sum(X - X + W)", shapes="X=n,n W=n,n", wrt="X W")
    assert re.search(r'<ul class="warnings" id="warnings"><li>X does not occur', html)


def test_the_workers_are_checked_and_a_busy_server_says_so(monkeypatch):
    with pytest.raises(SymdiffError, match="--workers 0"):
        create_app(workers=0)
    client = create_app(time_limit=2, workers=1).test_client()
    started, release = threading.Event(), threading.Event()

    def held(*args):  # the one worker, busy until the second request has been turned away
        started.set()
        release.wait(60)
        raise jobs.TimeLimitExceeded("stopped")

    monkeypatch.setattr(jobs, "run", held)
    first = threading.Thread(target=page, args=(client,), kwargs=SLOW)
    first.start()
    assert started.wait(60)
    html = page(client, **LINEAR)
    release.set()
    first.join()
    assert "<h2>Busy</h2>" in html and "the server is busy: its 1 worker stayed busy for the 2 s this waited" in html


@pytest.mark.parametrize(
    "options, message",
    [
        (["--time-limit", "nan"], "--time-limit nan: give a positive number of seconds"),
        (["--time-limit", "inf"], "--time-limit inf: give a positive number of seconds"),
        (["--time-limit", "0"], "--time-limit 0: give a positive number of seconds"),
        (["--port", "99999"], "--port 99999: a port is 1..65535"),
        (["--workers", "0"], "--workers 0: at least 1 derivation must be able to run"),
    ],
)
def test_serve_refuses_options_that_cannot_serve(capsys, options, message):
    from symdiff.cli import main

    assert main(["serve", *options]) == 2  # before anything listens
    assert message in capsys.readouterr().err


def test_the_fork_server_imports_the_symdiff_the_server_runs(tmp_path):
    """Started in a folder with another ``symdiff/`` (a checkout), the workers still run the server's symdiff."""
    checkout, elsewhere = tmp_path / "checkout", tmp_path / "bin"
    (checkout / "symdiff" / "serve").mkdir(parents=True)
    for init in ("symdiff/__init__.py", "symdiff/serve/__init__.py"):
        (checkout / init).write_text("raise SystemExit('the wrong symdiff')\n")
    elsewhere.mkdir()
    script = elsewhere / "serve.py"  # as the symdiff script runs: its own folder first on the path, not the cwd
    script.write_text(
        "from symdiff.serve import jobs\n\nif __name__ == '__main__':\n    print(jobs.run('ping', (), 120))\n"
    )
    ours = Path(symdiff.__file__).resolve().parent
    environment = {**os.environ, "PYTHONPATH": str(ours.parent)}
    run = subprocess.run([sys.executable, script], cwd=checkout, env=environment, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == str(ours)


def test_inputs_over_the_size_limits_are_refused_before_any_work(client, monkeypatch):
    monkeypatch.setattr(jobs, "run", lambda *a, **k: pytest.fail("no job for an input over the limit"))
    html = page(client, expr="x + " * (MAX_CHARS // 4 + 1), shapes="", wrt="x")
    assert re.search(r'id="expr-error">[\d,]+ characters; the limit is 20,000<', html)
    html = page(client, expr="sum(X)", shapes="X=n,n " * 400, wrt="X")
    assert 'id="shapes-error">' in html


def test_a_slow_input_is_stopped_and_the_server_goes_on():
    client = create_app(time_limit=15).test_client()  # the linear regression takes 3 s, the slow input minutes
    html = page(client, **SLOW)
    assert 'id="stopped"' in html and "stopped after 15 s" in html
    assert 'id="overall">PASS' in page(client, **LINEAR)


def test_a_bug_is_shown_once_as_a_bug(monkeypatch):
    def failing(*args):
        raise jobs.JobFailed(jobs.Failure("TypeError: something symdiff got wrong", "TypeError", bug=True))

    monkeypatch.setattr(jobs, "run", failing)
    html = page(create_app().test_client(), **LINEAR)
    assert "<h2>Internal error</h2>" in html and html.count("something symdiff got wrong") == 1
    assert 'class="error" id=' not in html and "Traceback" not in html


def test_a_bug_in_a_job_is_reported_as_one():
    with pytest.raises(jobs.JobFailed) as caught:
        jobs.run("no_such_job", (), 60)
    assert caught.value.failure.bug and "AttributeError" in caught.value.failure.message
    with pytest.raises(jobs.TimeLimitExceeded):
        jobs.run("derivation_page", (_request(SLOW),), 1)


def _request(query):
    from symdiff.serve.work import Request

    return Request(query["expr"], tuple(query["shapes"].split()), tuple(query["wrt"].split()))


def test_the_catalog_lists_every_derivation_and_proof(client):
    html = client.get("/catalog").get_data(as_text=True)
    for name in catalog.names() + catalog.proof_names():
        assert f'href="/catalog/{name}"' in html


def test_a_catalog_entry_has_its_document_latex_pdf_and_code(client):
    name = "000_linear_regression_batch"
    html = client.get(f"/catalog/{name}").get_data(as_text=True)
    assert "<math" in html and 'id="step-1"' in html and "def backward(" in html
    tex = client.get(f"/catalog/{name}.tex")
    assert tex.status_code == 200 and b"\\documentclass" in tex.data
    for backend in ("numpy", "torch"):
        code = client.get(f"/catalog/{name}/{backend}.py")
        assert code.status_code == 200 and b"def backward(" in code.data
    if shutil.which("pdflatex") or shutil.which("latexmk"):
        pdf = client.get(f"/catalog/{name}.pdf")
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get("/catalog/no_such_spec").status_code == 404
    jacobian = next(n for n in catalog.names() if catalog.load(n).kind == "jacobian")
    assert client.get(f"/catalog/{jacobian}/torch.py").status_code == 404  # a Jacobian has no module
    proof = catalog.proof_names()[0]
    assert "<math" in client.get(f"/catalog/{proof}").get_data(as_text=True)


def test_unknown_routes_and_backends_get_a_page_not_a_traceback(client):
    for path in ("/nowhere", "/module/jax.py?" + urlencode(LINEAR)):
        response = client.get(path)
        assert response.status_code == 404 and "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("name", catalog.names())
def test_step_comments_name_the_documents_steps(name):
    """Each ``# dC/dX: step k`` of a generated backward is the document's step k, the adjoint of X."""
    target = resolve(name, [], [])
    d = target.derivation
    if d.kind == "jacobian":
        return
    out = d.forward[-1].name
    steps = {k: s.name for k, s in enumerate(d.steps, start=1)}
    for backend in ("numpy", "torch"):
        source = target.module(backend)
        backward = source.split("def pairing_forward")[0]  # a double backward's pairing has its own steps
        said = re.findall(r"# d(\w+)/d(\w+): step (\d+)", backward)
        assert said or not d.steps or d.kind == "hessian", f"{name}: no step comments"  # a Hessian is no step
        for output, variable, number in said:
            assert output == out and steps[int(number)] == variable, f"{name}: {variable} is not step {number}"
        lines = linked_lines(source)
        assert {step for _, step in lines if step} >= {number for _, _, number in said}
