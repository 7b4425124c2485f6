"""Failed access keys and ingest tokens per client: when one client has failed ``limit``
times within ``window_s``, its keyed requests are refused until the oldest of those failures
is ``window_s`` old, before its key is even looked at.

A guesser thus gets at most ``limit`` tries per window (20 a minute by default instead of
the 700 a second the server can answer) and learns nothing while refused, not even whether
a key was right; a client that mistypes a key a few times is never held up; other clients
are never touched. Time is an argument (seconds); memory is bounded by ``max_clients``,
dropping the clients whose last failure is oldest first.

A key takes time to look up, and many guesses may be looked up at once: so an admitted
attempt (:meth:`FailureThrottle.attempt`) counts as *pending* until it is settled
(:meth:`~FailureThrottle.failed` or :meth:`~FailureThrottle.passed`), and once a client has
failed within the window its pending attempts count against the limit as failures would.
Concurrent guesses after a first wrong key then get no more than ``limit`` tries either (a
client at the limit with requests in flight waits ``PENDING_WAIT_S``). A client that has
not failed is never refused for how many requests it has in flight: scripts and dashboards
with the right key send many at once; a guesser's very first wave is bounded by the
per-client connection cap instead.
"""

from __future__ import annotations

from collections import deque

PENDING_WAIT_S = 1.0  # retry_after when only the pending attempts fill the limit


class FailureThrottle:
    def __init__(self, limit: int, window_s: float, max_clients: int = 10_000) -> None:
        if limit < 0 or window_s < 0 or max_clients < 1:
            raise ValueError("limit and window_s must be >= 0, max_clients >= 1")
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._failures: dict[str, deque[float]] = {}  # order: least recent failure first
        self._pending: dict[str, int] = {}  # attempts admitted and not yet settled

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, client: str, now: float) -> float:
        """Seconds until ``client`` may try a key again; 0: now. Once it has failed within the
        window, its pending attempts count as failures."""
        if not self.limit:
            return 0.0
        times = self._failures.get(client)
        if times is None or times[-1] + self.window_s <= now:
            return 0.0  # no failure in the window: nothing to hold it to
        room = self.limit - self._pending.get(client, 0)  # failures it may have and try
        if room <= 0:
            return PENDING_WAIT_S
        if len(times) < room:
            return 0.0
        wait = times[len(times) - room] + self.window_s - now  # the one that must leave
        # a clock set back must not stretch the refusal past one window
        return min(wait, self.window_s) if wait > 0 else 0.0

    def attempt(self, client: str, now: float) -> float:
        """``retry_after``; when that is 0, ``client``'s attempt is admitted and pending until
        :meth:`failed` or :meth:`passed` settles it."""
        wait = self.retry_after(client, now)
        if not wait and self.limit:
            self._pending[client] = self._pending.get(client, 0) + 1
        return wait

    def passed(self, client: str) -> None:
        """Settle a pending attempt of ``client`` that was no failure."""
        left = self._pending.get(client, 0) - 1
        if left > 0:
            self._pending[client] = left
        else:
            self._pending.pop(client, None)

    def failed(self, client: str, now: float) -> float:
        """Record a failure of ``client``, settling a pending attempt of it if there is one;
        returns ``retry_after`` after it."""
        if not self.limit:
            return 0.0
        self.passed(client)
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
