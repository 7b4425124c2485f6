"""Real ``poolstats serve`` processes for the tests of files and health: started on a free
loopback port, waited for by condition (never a sleep), killed with SIGKILL or stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import msgspec

TOKEN = "tok"
DB = "poolstats.sqlite3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def poolstats(*args: str) -> list[str]:
    return [sys.executable, "-m", "poolstats", *args]


def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A poolstats command to its end (no TTY, so messages are not wrapped)."""
    return subprocess.run(
        poolstats(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400", **(env or {})},
    )


def create_user(data_dir: Path, name: str = "alice") -> dict[str, Any]:
    """A sub-account in ``data_dir``'s store, made first when the folder is new."""
    assert run("init", "--data-dir", str(data_dir)).returncode == 0
    out = run("user", "create", name, "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stderr
    user: dict[str, Any] = json.loads(out.stdout)
    return user


class Node:
    """One ``poolstats serve`` on ``data_dir``; its output goes to ``<data_dir>.<port>.log``."""

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        flush_interval: float = 0.2,
        wait: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{data_dir.name}.{self.port}.log"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                poolstats(
                    "serve",
                    "--data-dir",
                    str(data_dir),
                    "--port",
                    str(self.port),
                    "--ingest-token",
                    TOKEN,
                    "--flush-interval",
                    str(flush_interval),
                    *args,
                ),
                stdout=log,
                stderr=log,
                env={**os.environ, "COLUMNS": "400", **(env or {})},
                preexec_fn=preexec_fn,
            )
        if wait:
            wait_for(self.answers, 60, "the server to answer /healthz")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
        try:
            httpx.get(self.url + "/healthz", timeout=2)
        except httpx.TransportError:
            return False
        return True

    def health(self) -> httpx.Response:
        return httpx.get(self.url + "/healthz", timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(self.url + path, params=params, timeout=30)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    def post(self, body: bytes) -> httpx.Response:
        return httpx.post(
            self.url + "/ingest/shares",
            content=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"},
            timeout=60,
        )

    def metric(self, name: str) -> float:
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        assert code in (0, -signal.SIGTERM), (code, self.log())


def shares(worker: str, n: int, ts: float, diff: float = 1024.0, puid: int = 1) -> bytes:
    line = msgspec.json.encode(
        {"ts": ts, "puid": puid, "worker": worker, "diff": diff, "accepted": True}
    )
    return (line + b"\n") * n


def stored_counts(data_dir: Path) -> dict[str, int]:
    """worker -> accepted shares, as the store has them (read-only)."""
    with sqlite3.connect(f"file:{data_dir / DB}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT worker_name, accept_count FROM workers WHERE puid = 1"))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> content): "nothing changed on disk"."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
