"""Idempotency keys of ingest batches: a batch retried after a lost answer counts once.

A producer that sends ``Idempotency-Key: <key>`` gets, for a key it already used, the
answer of the first request without the shares being counted again. Keys live in the
journal record of their batch and in the checkpoint, so they survive a crash too. The
newest ``capacity`` keys are remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import msgspec

MAX_KEY = 128


class BatchKeys:
    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._done: OrderedDict[str, tuple[int, int]] = OrderedDict()  # key -> counts
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def begin(self, key: str) -> tuple[int, int] | None:
        """(accepted, refused) of a batch already counted under ``key``; else None, and the
        caller owns the key until ``end`` (a concurrent request with it waits)."""
        while True:
            with self._lock:
                done = self._done.get(key)
                if done is not None:
                    return done
                running = self._running.get(key)
                if running is None:
                    self._running[key] = threading.Event()
                    return None
            running.wait()

    def remember(self, key: str, accepted: int, refused: int) -> None:
        """Record a counted batch (called where it is applied, and when it is replayed)."""
        with self._lock:
            self._done[key] = (accepted, refused)
            self._done.move_to_end(key)
            while len(self._done) > self.capacity:
                self._done.popitem(last=False)

    def end(self, key: str) -> None:
        """Release the key (counted or not: a batch that failed may be sent again)."""
        with self._lock:
            event = self._running.pop(key, None)
        if event is not None:
            event.set()

    def export(self) -> bytes:
        with self._lock:
            return msgspec.msgpack.encode([[k, a, r] for k, (a, r) in self._done.items()])

    def restore(self, data: bytes) -> None:
        for key, accepted, refused in msgspec.msgpack.decode(data):
            self.remember(key, accepted, refused)


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY and key.isascii() and key.isprintable()
