"""A real ``poolstats serve`` process for the HTTP benchmarks: started on a free port, waited
for on ``/healthz`` with a deadline, terminated on exit."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


@contextlib.contextmanager
def serving(data_dir: Path, *options: str, timeout: float = 60) -> Iterator[str]:
    """``poolstats serve --data-dir DIR --port P OPTIONS...``; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "poolstats", "serve", "--data-dir", str(data_dir),
         "--port", str(port), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_healthy(url, process, timeout)
        yield url
    finally:
        process.terminate()
        process.wait(60)
