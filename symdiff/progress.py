"""Progress bars for slow work: on stderr, and only where stderr is a terminal.

A person at a terminal sees how far a long check or run has come; a log, a
pipe or CI gets only the command's output. ``--no-progress`` (or
``enabled=False``) turns them off on a terminal too, and ``delay`` keeps work
that ends sooner from drawing one at all.
"""

from __future__ import annotations


def progress(iterable=None, desc: str = "", enabled: bool = True, delay: float = 0.0, **options):
    """``iterable`` wrapped in a tqdm bar on stderr, drawn after ``delay`` seconds, where stderr is a terminal."""
    from tqdm.auto import tqdm

    # disable=None: tqdm disables itself when its file (stderr) is not a terminal
    return tqdm(iterable, desc=desc, disable=None if enabled else True, delay=delay, leave=False, **options)
