"""``symdiff serve``: a local page where an expression typed in a form gets its derivation, its generated
numpy and torch code, and its checks (exact, finite differences, torch autograd), and where the catalog can
be browsed.

``app`` is the Flask application (routes and pages), ``work`` what a request computes, ``jobs`` the child
processes it runs in under a time limit, ``code`` the generated code's lines linked to the derivation's steps.
"""

from __future__ import annotations

import math
import threading

from ..errors import SymdiffError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(host: str = "127.0.0.1", port: int = 8000, time_limit: float = 60.0, workers: int = 2) -> None:
    """Serve the page at http://host:port/ until interrupted (Flask's own server, threaded)."""
    from werkzeug.serving import make_server

    from . import jobs
    from .app import create_app

    if not 0 <= port < 65536:
        raise SymdiffError(f"--port {port}: a port is 1..65535 (0: any free one)")
    if not math.isfinite(time_limit) or time_limit <= 0:
        raise SymdiffError(f"--time-limit {time_limit:g}: give a positive number of seconds")
    try:
        server = make_server(host, port, create_app(time_limit, workers), threaded=True)
    except OSError as err:
        raise SymdiffError(f"cannot serve on {host}:{port}: {err.strerror or err} (another --port?)") from None
    threading.Thread(target=jobs.warm, daemon=True).start()  # the fork server's imports, before the first request
    where = f"[{host}]" if ":" in host else host
    print(f"symdiff serve: http://{where}:{server.server_port}/  (Ctrl-C stops it)", flush=True)
    if host not in LOOPBACK:
        print(f"warning: --host {host}: other machines that reach this address can use the page", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
