"""A folder of share batches waiting for the node: each written durably before its miners
are answered, sent oldest first, deleted only once the node has counted it.

Why it is built this way:
- One batch, one file ``<ns>-<key>.ndjson``: the Idempotency-Key rides in the name, so the
  body stays the NDJSON batch as it was first posted (``poolstats ingest`` sends one by hand),
  and the zero-padded nanoseconds order the files oldest first.
- A file appears whole or not at all: a temporary file is written and fsynced, renamed, and
  the folder fsynced. A temporary file left by a crash was never acknowledged to a miner
  (the answer waits for the rename), so it is removed at start.
- Batches the node refuses for good (malformed, too large) move to ``refused/``: kept for an
  operator, never sent again on their own, so they cannot block the batches behind them.
- The folder is bounded (``max_bytes``, refused ones included): past it a write raises
  ``SpoolFull`` and the miners get an error instead of an acknowledgement, rather than the
  disk filling under everything else on the machine.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from poolstats.ingest.journal import fsync_dir

DEFAULT_MAX_BYTES = 4 * 2**30  # ~9 h of 1,000 shares/s at ~120 bytes a share
REFUSED = "refused"
_TMP = ".tmp-"
_NAME = re.compile(r"([0-9]{20})-([A-Za-z0-9_-]{1,128})\.ndjson")


class SpoolFull(OSError):
    """The spool holds ``max_bytes`` already: the batch was not written."""


class Spool:
    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.refused_dir = directory / REFUSED
        self.max_bytes = max_bytes
        self.refused_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last_ns = 0
        size = 0
        for folder in (self.directory, self.refused_dir):
            for path in folder.iterdir():
                if path.name.startswith(_TMP):
                    path.unlink()  # a write a crash cut short: nobody was told it was safe
                elif path.is_file():
                    size += path.stat().st_size
        self._bytes = size
        self._waiting = len(self.batches())

    @property
    def size_bytes(self) -> int:
        """Bytes held, waiting and refused ones together."""
        return self._bytes

    @property
    def waiting(self) -> int:
        """Batches waiting to be sent (refused ones not counted)."""
        return self._waiting

    def write(self, key: str, body: bytes) -> Path:
        """Store a batch under its Idempotency-Key; returns once it is on disk."""
        if not _NAME.fullmatch(f"{0:020d}-{key}.ndjson"):
            raise ValueError(f"key: {key!r} is not 1 to 128 characters of A-Z a-z 0-9 _ -")
        with self._lock:
            if self._bytes + len(body) > self.max_bytes:
                raise SpoolFull(
                    f"stratum spool {self.directory}: {self._bytes} bytes held, "
                    f"{len(body)} more would pass the limit of {self.max_bytes}"
                )
            self._bytes += len(body)
            self._last_ns = max(time.time_ns(), self._last_ns + 1)  # names stay in order
            name = f"{self._last_ns:020d}-{key}.ndjson"
        tmp = self.directory / (_TMP + name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            path = self.directory / name
            os.rename(tmp, path)
            with self._lock:
                self._waiting += 1
            fsync_dir(self.directory)
        except BaseException:
            with self._lock:
                self._bytes -= len(body)
            tmp.unlink(missing_ok=True)
            raise
        return path

    def batches(self) -> list[Path]:
        """The waiting batches, oldest first."""
        return sorted(p for p in self.directory.iterdir() if _NAME.fullmatch(p.name))

    def read(self, path: Path) -> tuple[str, bytes]:
        """A batch's Idempotency-Key and body."""
        match = _NAME.fullmatch(path.name)
        if match is None:
            raise ValueError(f"{path.name}: not a spooled batch")
        return match.group(2), path.read_bytes()

    def remove(self, path: Path) -> None:
        """Forget a batch the node counted. Not fsynced: a removal a crash undoes only sends
        the batch again under its key, which the node answers without counting it."""
        self._forget(path)
        path.unlink(missing_ok=True)

    def refuse(self, path: Path) -> Path:
        """Set a batch the node can never take aside, in ``refused/``."""
        target = self.refused_dir / path.name
        os.rename(path, target)
        with self._lock:
            self._waiting -= 1
        fsync_dir(self.directory)
        fsync_dir(self.refused_dir)
        return target

    def _forget(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        with self._lock:
            self._bytes -= size
            self._waiting -= 1
