"""Ctrl-C during training: finish the current step, then save and stop cleanly.

A KeyboardInterrupt raised in the middle of a step (between the critic and generator updates of a GAN, or
between an optimizer's slots) would leave the networks in a state no uninterrupted run passes through, and a
checkpoint of it would not resume to the same numbers. :class:`StopOnInterrupt` turns the first SIGINT into a
flag that the loop reads after each step; a second Ctrl-C interrupts at once, as usual.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["StopOnInterrupt"]


class StopOnInterrupt:
    """Context manager: while active, the first SIGINT sets :attr:`requested` instead of raising.

    Outside the main thread (where Python cannot install signal handlers: napari workers, dask tasks) it
    does nothing and Ctrl-C keeps its usual meaning. Where SIGINT is ignored (a job started with ``nohup`` or
    in the background of a non-interactive shell) it stays ignored: the user asked not to be interrupted.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:  # the second Ctrl-C: the user really wants out now
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False
