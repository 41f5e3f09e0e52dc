"""The Flask application of ``symdiff serve``: the form, the result page, downloads and the catalog.

Every page is a GET whose query string holds the whole input, so a result's address is its share link. The
work itself runs in ``jobs`` (a child process under the time limit); this process only checks sizes, lays
out what the child returns, and keeps the last results for the downloads.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from urllib.parse import urlencode

from flask import Flask, Response, abort, render_template, request, url_for

from .. import latex
from ..errors import SymdiffError
from ..limits import MAX_CHARS
from ..ops.structure import CONVENTIONS
from . import jobs
from .code import linked_lines
from .examples import EXAMPLES
from .work import BACKENDS, KINDS, Request, slug

FIELD_LIMITS = {"expr": MAX_CHARS, "shapes": 2000, "wrt": 500}  # characters
RECENT = 32  # results kept for their downloads
DEFAULTS = {
    "expr": "",
    "shapes": "",
    "wrt": "",
    "kind": "gradient",
    "notation": "partial",
    "backend": "torch",
    "convention": "structured",
}


def _words(value: str, commas: bool = False) -> tuple:
    """The entries of a field, split at spaces (and commas, where no entry has one)."""
    return tuple((value.replace(",", " ") if commas else value).split())


class _Recent:
    """The last results, by request: a download reads the module of the page it was on."""

    def __init__(self):
        self.lock, self.items = threading.Lock(), OrderedDict()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
            return self.items.get(key)

    def put(self, key, value):
        with self.lock:
            self.items[key] = value
            while len(self.items) > RECENT:
                self.items.popitem(last=False)


def _form(args) -> dict:
    """The form's fields from the query string, with defaults; unknown option values fall back to them."""
    form = {key: args.get(key, default) for key, default in DEFAULTS.items()}
    choices = {"kind": KINDS, "notation": latex.NOTATIONS, "backend": BACKENDS, "convention": CONVENTIONS}
    for key, allowed in choices.items():
        if form[key] not in allowed:
            form[key] = DEFAULTS[key]
    return form


def _too_long(form: dict) -> dict:
    """Errors of fields over their size limits, by field."""
    return {
        key: f"{len(form[key]):,} characters; the limit is {limit:,}"
        for key, limit in FIELD_LIMITS.items()
        if len(form[key]) > limit
    }


def _request(form: dict) -> Request:
    return Request(
        form["expr"].strip(),
        _words(form["shapes"]),
        _words(form["wrt"], commas=True),
        form["kind"],
        form["notation"],
        form["convention"],
    )


PAGE_WORDS = [  # the command line's names for the form's fields, as the page calls them
    (re.compile(r": --wrt NAME \[NAME \.\.\.\]"), " (Variables)"),
    (re.compile(r"--shape\b"), "Shapes"),
    (re.compile(r"--wrt\b"), "Variables"),
    (re.compile(r"--hessian\b"), "Variables (Hessian)"),
    (re.compile(r"--hvp\b"), "Variables (HVP)"),
]


def _in_page_words(message: str) -> str:
    for pattern, words in PAGE_WORDS:
        message = pattern.sub(words, message)
    return message


def _field_of(failure: jobs.Failure) -> str:
    """The form field an error is about: a --shape entry's, a variable's, or the expression's."""
    message = failure.message
    if message.startswith("--shape") or "--shape is for expressions" in message:
        return "shapes"
    if message.startswith(("--wrt", "--hvp", "--hessian", "say which variables")):
        return "wrt"
    return "expr"


def _highlight(expression: str, span) -> tuple | None:
    """The expression cut at a ParseError's span (in the stripped text): before, the part, after."""
    if not span:
        return None
    offset = len(expression) - len(expression.lstrip())
    start, end = span[0] + offset, span[1] + offset
    return expression[:start], expression[start:end], expression[end:]


def create_app(time_limit: float = 60.0, workers: int = 2) -> Flask:
    """The application; each derivation, check or PDF runs in a child process stopped after ``time_limit``
    seconds, at most ``workers`` at once."""
    if workers < 1:
        raise SymdiffError(f"--workers {workers}: at least 1 derivation must be able to run")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # the forms are GETs; no body is ever needed
    recent, slots = _Recent(), threading.BoundedSemaphore(workers)
    catalog_cache = {}

    def run(job: str, *arguments, seconds: float = time_limit):
        """The job in a child process, once one of the ``workers`` is free (waiting at most ``seconds``)."""
        if not slots.acquire(timeout=seconds):
            busy = f"{workers} worker{'s' if workers > 1 else ''}"
            raise jobs.Busy(f"the server is busy: its {busy} stayed busy for the {seconds:g} s this waited")
        try:
            return jobs.run(job, arguments, seconds)
        finally:
            slots.release()

    def page_of(req: Request) -> dict:
        result = recent.get(req)
        if result is None:
            started = time.perf_counter()
            result = run("derivation_page", req)
            result["seconds"]["total, from the request"] = time.perf_counter() - started
            recent.put(req, result)
        return result

    def catalog_entries() -> list:
        if "entries" not in catalog_cache:
            catalog_cache["entries"] = run("catalog_entries")
        return catalog_cache["entries"]

    @app.get("/")
    def index():
        form = _form(request.args)
        context = {"form": form, "examples": EXAMPLES, "kinds": KINDS, "notations": latex.NOTATIONS}
        context |= {"backends": BACKENDS, "conventions": CONVENTIONS, "errors": _too_long(form), "limit": time_limit}
        if form["expr"].strip() and not context["errors"]:
            req = _request(form)
            try:
                result = page_of(req)
            except jobs.TimeLimitExceeded as err:
                context["stopped"] = str(err)
                context["busy"] = isinstance(err, jobs.Busy)
            except jobs.JobFailed as err:
                failure = err.failure
                context["failure"] = failure  # a bug is reported once, under the form; a refusal by its field
                if not failure.bug:
                    context["errors"] = {_field_of(failure): _in_page_words(failure.message)}
                    context["highlight"] = _highlight(form["expr"], failure.span)
            else:
                query = urlencode({k: v for k, v in form.items() if v})
                context["result"] = result
                context["share"] = url_for("index", _external=True) + "?" + query
                context["query"] = query
                context["code"] = {b: linked_lines(src) for b, src in result["modules"].items()}
        return render_template("index.html", **context)

    @app.get("/module/<backend>.py")
    def module(backend: str):
        if backend not in BACKENDS:
            abort(404, f"no backend {backend!r}: {' or '.join(BACKENDS)}")
        form = _form(request.args)
        if _too_long(form) or not form["expr"].strip():
            abort(400, "the module's address holds the form's input: an expression within the size limits")
        try:
            result = page_of(_request(form))
        except (jobs.TimeLimitExceeded, jobs.JobFailed) as err:
            return Response(f"no module: {err}\n", status=422, mimetype="text/plain")
        if backend not in result["modules"]:
            return Response(f"no module: {result['refused'][backend]}\n", status=422, mimetype="text/plain")
        name = f"symdiff_{slug(result['title'])}_{backend}.py"
        return _download(result["modules"][backend], name, "text/x-python")

    @app.get("/catalog")
    def catalog_index():
        return render_template("catalog.html", entries=catalog_entries())

    def entry(name: str) -> dict:
        known = {e["name"]: e for e in catalog_entries()}
        if name not in known:
            abort(404)
        return known[name]

    def entry_page(name: str) -> dict:
        """A catalog entry's page data (computed once); TimeLimitExceeded or JobFailed where it cannot be."""
        if name not in catalog_cache:
            catalog_cache[name] = run("catalog_page", name)
        return catalog_cache[name]

    @app.errorhandler(jobs.TimeLimitExceeded)
    @app.errorhandler(jobs.JobFailed)
    def job_failed(err):
        return render_template("message.html", title="Not available", message=str(err)), 503

    @app.get("/catalog/<name>")
    def catalog_page(name: str):
        info, page = entry(name), entry_page(name)
        code = {b: linked_lines(src) for b, src in page["modules"].items()}
        return render_template("catalog_entry.html", entry=info, page=page, code=code)

    @app.get("/catalog/<name>.pdf")
    def catalog_pdf(name: str):
        entry(name)
        key = f"{name}.pdf"
        if key not in catalog_cache:  # TeX takes tens of seconds on a long document
            catalog_cache[key] = run("catalog_pdf", name, seconds=max(time_limit, 180))
        return Response(catalog_cache[key], mimetype="application/pdf")

    @app.get("/catalog/<name>.tex")
    def catalog_tex(name: str):
        entry(name)
        return _download(entry_page(name)["latex"], f"{name}.tex", "text/x-tex")

    @app.get("/catalog/<name>/<backend>.py")
    def catalog_module(name: str, backend: str):
        entry(name)
        page = entry_page(name)
        if backend not in page["modules"]:
            abort(404, f"{name} has no {backend} module")
        return _download(page["modules"][backend], f"{name}_{backend}.py", "text/x-python")

    @app.errorhandler(404)
    def not_found(err):
        return render_template("message.html", title="Not found", message=str(err.description)), 404

    @app.errorhandler(400)
    def bad_request(err):
        return render_template("message.html", title="Bad request", message=str(err.description)), 400

    @app.errorhandler(413)
    def too_large(err):
        return render_template("message.html", title="Too large", message="the request is over 64 KiB"), 413

    @app.errorhandler(500)
    def internal(err):
        message = "the server failed on this request (a bug; the server's log has the details)"
        return render_template("message.html", title="Server error", message=message), 500

    return app


def _download(source: str, name: str, mimetype: str) -> Response:
    return Response(source, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})
