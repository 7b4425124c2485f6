"""Failed access keys and ingest tokens per client: when one client has failed ``limit``
times within ``window_s``, its keyed requests are refused until the oldest of those failures
is ``window_s`` old, before its key is even looked at.

A guesser thus gets at most ``limit`` tries per window (20 a minute by default instead of
the 700 a second the server can answer) and learns nothing while refused, not even whether
a key was right; a client that mistypes a key a few times is never held up; other clients
are never touched. Time is an argument (seconds); memory is bounded by ``max_clients``,
dropping the clients whose last failure is oldest first.
"""

from __future__ import annotations

from collections import deque


class FailureThrottle:
    def __init__(self, limit: int, window_s: float, max_clients: int = 10_000) -> None:
        if limit < 0 or window_s < 0 or max_clients < 1:
            raise ValueError("limit and window_s must be >= 0, max_clients >= 1")
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._failures: dict[str, deque[float]] = {}  # order: least recent failure first

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, client: str, now: float) -> float:
        """Seconds until ``client`` may try a key again; 0: now."""
        times = self._failures.get(client)
        if not self.limit or times is None or len(times) < self.limit:
            return 0.0
        wait = times[0] + self.window_s - now
        # a clock set back must not stretch the refusal past one window
        return min(wait, self.window_s) if wait > 0 else 0.0

    def failed(self, client: str, now: float) -> float:
        """Record a failure of ``client``; returns ``retry_after`` after it."""
        if not self.limit:
            return 0.0
        times = self._failures.pop(client, None)
        if times is None:
            times = deque(maxlen=self.limit)
            self._make_room(now)
        times.append(now)
        self._failures[client] = times  # now the most recent
        return self.retry_after(client, now)

    def _make_room(self, now: float) -> None:
        """Drop clients whose failures have all left the window, least recent first, and the
        least recent ones anyway while the table is full."""
        while self._failures:
            client = next(iter(self._failures))
            last = self._failures[client][-1]
            if len(self._failures) < self.max_clients and last + self.window_s > now:
                break
            del self._failures[client]
