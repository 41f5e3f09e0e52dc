"""A time limit on work in the main thread: SIGALRM raises a chosen exception when it runs out.

Limits nest: an inner limit longer than what is left of the outer one sets
nothing (the outer fires first), and when an inner limit ends the outer
one's timer is set again for what remains of it. Off the main thread, where
SIGALRM is unavailable, or for a budget of 0 or infinity, there is no limit.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager


@contextmanager
def time_limit(seconds: float, error: type[BaseException]):
    """Raise ``error`` in the main thread once ``seconds`` have passed inside the block."""
    timer = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    outer = signal.getitimer(signal.ITIMER_REAL)[0] if timer else 0.0
    if not timer or not seconds or math.isinf(seconds) or 0 < outer <= seconds:
        yield
        return

    def expire(signum, frame):
        raise error

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 1e-6))
