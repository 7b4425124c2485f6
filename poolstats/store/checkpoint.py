"""The engine's state on disk, so that a restart does not reset hashrate to 0.

One ``.npz`` file, replaced atomically (write, fsync, rename, fsync the folder): a crash
leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from poolstats.ingest.journal import fsync_dir

log = logging.getLogger(__name__)
FILENAME = "engine.checkpoint.npz"


def save(directory: Path, arrays: dict[str, npt.NDArray[Any]]) -> Path:
    path = directory / FILENAME
    tmp = directory / (FILENAME + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwds
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(directory)
    return path


def load(directory: Path) -> dict[str, npt.NDArray[Any]] | None:
    """The saved arrays, or None when there is no usable checkpoint (said in the log)."""
    path = directory / FILENAME
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError) as exc:  # a damaged file must not stop the start
        log.error("checkpoint %s is unreadable (%s); starting from the journal alone", path, exc)
        return None
