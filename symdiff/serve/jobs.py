"""Running the server's work in a child process, under a time limit.

Every derivation, check and PDF ``symdiff serve`` makes runs in a child forked from a fork server that
imported symdiff (SymPy, torch) once, so a child starts in milliseconds. A child that runs past its limit is
killed and the page says so; the server's own process never runs SymPy on user input nor generated code.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path

from ..errors import SymdiffError

_START = threading.Lock()
_context = None
# address space a request's process may map: half the machine's memory, at most 16 GiB (torch maps about 2 GiB)
MEMORY = min(16 * 2**30, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)


class TimeLimitExceeded(SymdiffError):
    """A job ran past its time limit and was stopped."""


class Busy(TimeLimitExceeded):
    """A job waited its whole time limit for a free worker, and was not started."""


@dataclass(frozen=True)
class Failure:
    """A job's refusal or bug, as plain data: the message, the error's class, and a ParseError's span."""

    message: str
    kind: str
    span: tuple[int, int] | None = None
    bug: bool = False  # not a SymdiffError: symdiff failed where it should have answered or refused


class JobFailed(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


def _forkserver():
    """The fork server's context, its children importing ``symdiff.serve.work`` before they fork; the server
    (re)started where needed, importing the symdiff this process runs."""
    global _context
    with _START:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["symdiff.serve.work"])
            _context = context
        # Python 3.11's fork server runs "python -c", whose path starts with the working directory, and ignores
        # the path it is given: started in a checkout, it would import that checkout's symdiff. Its environment
        # names this process's symdiff instead, and no working directory.
        package_root = str(Path(__file__).resolve().parents[2])
        saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "PYTHONSAFEPATH")}
        os.environ["PYTHONSAFEPATH"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, saved["PYTHONPATH"]]))
        try:
            forkserver.ensure_running()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return _context


def _child(connection, job: str, arguments: tuple) -> None:
    from . import work

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))  # a MemoryError, not a machine out of memory
    try:
        reply = ("ok", getattr(work, job)(*arguments))
    except SymdiffError as err:
        reply = ("failed", Failure(str(err), type(err).__name__, getattr(err, "span", None)))
    except MemoryError:
        message = f"this needed more than the {MEMORY / 2**30:.0f} GiB of memory a request may use"
        reply = ("failed", Failure(message, "MemoryError"))
    except Exception as err:  # a bug: the page reports it, the server's log gets the traceback
        traceback.print_exc(file=sys.stderr)
        reply = ("failed", Failure(f"{type(err).__name__}: {err}", type(err).__name__, bug=True))
    connection.send(reply)
    connection.close()


def run(job: str, arguments: tuple, seconds: float):
    """``work.<job>(*arguments)`` in a child process; its value, or ``JobFailed`` (a refusal or a bug), or
    ``TimeLimitExceeded`` after ``seconds``."""
    context = _forkserver()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, job, arguments), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise TimeLimitExceeded(f"stopped after {seconds:g} s: this ran past the server's time limit")
        status, value = receiver.recv()
    except EOFError:  # the child died without a word: killed for memory, or a crash inside a library
        process.join(5)
        message = f"the worker process died (exit code {process.exitcode})"
        raise JobFailed(Failure(message, "WorkerDied", bug=True)) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    if status == "failed":
        raise JobFailed(value)
    return value


def warm() -> None:
    """Start the fork server now (its imports take seconds), so that the first request does not wait for them."""
    run("ping", (), 300)
