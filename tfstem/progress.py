"""Progress bars whose elapsed time keeps moving while one long call runs (restore, lazy writes)."""

from __future__ import annotations

import threading

__all__ = ["ElapsedTicker", "PROGRESS_REFRESH_SECONDS"]

#: How often the bar's elapsed time is redrawn while one network call runs, in seconds.
PROGRESS_REFRESH_SECONDS = 0.5


class ElapsedTicker:
    """Refresh a tqdm bar every ``interval`` seconds from a daemon thread, so that its elapsed time moves
    while one long network call runs (tqdm redraws only on ``update``)."""

    def __init__(self, bar):
        self.bar, self.interval = bar, PROGRESS_REFRESH_SECONDS
        self._stop = threading.Event()
        self._thread = None

    def _tick(self):
        while not self._stop.wait(self.interval):
            self.bar.refresh()

    def __enter__(self):
        if not self.bar.disable:
            self._thread = threading.Thread(target=self._tick, name="tfstem-progress", daemon=True)
            self._thread.start()
        return self.bar

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False
