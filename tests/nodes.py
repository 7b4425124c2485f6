"""The one way the tests run real poolstats: processes, ports, waits, and what they stored.

Tests that start ``poolstats serve`` (or run any other command) once each carried their own
port picker, wait loop, server class and store reader, copies that drifted apart in small
ways (a wait for any answer here, for a 200 there; a token by flag here, by environment
there). Here is one of each, so a fix or a longer timeout reaches every test at once:

- ``free_port``: a loopback port free now. Tests use free ports only, never fixed ones.
- ``wait_for`` and ``until`` (its ``async`` twin): wait for a condition, with a deadline.
  Tests never sleep to synchronise; they wait on what they need to see.
- ``poolstats``: the command line of a poolstats command; ``run``: one run to its end.
- ``create_user``: a data folder (``poolstats init``) with a sub-account in it. The
  ``data_dir`` fixture of ``tests/conftest.py`` is one made this way for alice (puid 1).
- ``Node``: one ``poolstats serve`` process on a free port, with its settings, its log,
  and readers of /healthz and /metrics; killed with SIGKILL or stopped with SIGTERM.
- ``Process``: any other long-running poolstats command (gateway, aggregate, ...).
- ``NodeServer``: an in-process node's API (``tests.api.conftest.Node``) on a free port,
  for tests that need a real socket without a process of its own.
- ``shares``, ``INGEST_HEADERS``: bodies and headers for POST /ingest/shares.
- ``stored``, ``stored_counts``, ``tree``: what a data folder holds, read from outside as
  another process would (read-only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from poolstats.api.app import create_app

if TYPE_CHECKING:
    from tests.api.conftest import Node as ApiNode

TOKEN = "tok"  # the ingest token of every Node
INGEST_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
DB = "poolstats.sqlite3"  # the store's file in a data folder


def free_port() -> int:
    """A loopback port that nothing listens on now (also: an address where nothing answers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Return once ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """``wait_for`` inside an event loop: the loop runs on while it waits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def poolstats(*args: str) -> list[str]:
    """The command line of ``poolstats ARGS`` with this interpreter (for Popen and run)."""
    return [sys.executable, "-m", "poolstats", *args]


def _environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The children's environment: no TTY width, so messages are not wrapped."""
    return {**os.environ, "COLUMNS": "400", **(env or {})}


def run(
    *args: str, env: Mapping[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """A poolstats command to its end, its output captured as text; ``check``: a non-zero
    exit raises ``CalledProcessError``."""
    return subprocess.run(
        poolstats(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment(env),
        check=check,
    )


def create_user(data_dir: Path, name: str = "alice") -> dict[str, Any]:
    """A sub-account in ``data_dir``'s store, made first when the folder is new."""
    assert run("init", "--data-dir", str(data_dir)).returncode == 0
    out = run("user", "create", name, "--data-dir", str(data_dir))
    assert out.returncode == 0, out.stderr
    user: dict[str, Any] = json.loads(out.stdout)
    return user


class Node:
    """One ``poolstats serve`` on ``data_dir`` and a free port, its ingest token ``TOKEN``;
    its output goes to ``<data_dir>.<port>.log``. ``args`` are more ``serve`` options;
    ``settings`` are poolstats settings by field name, given as ``POOLSTATS_<NAME>``
    variables as an operator would; ``preexec_fn`` runs in the child before it starts
    (resource limits); ``flush_interval`` None leaves the setting's default.

    The constructor returns once /healthz answers at all (a node may start degraded), or
    with ``until_healthy`` once it answers 200. A node is a context manager that stops it.
    """

    def __init__(
        self,
        data_dir: Path,
        *args: str,
        settings: Mapping[str, object] | None = None,
        preexec_fn: Callable[[], None] | None = None,
        flush_interval: float | None = 0.2,
        until_healthy: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{data_dir.name}.{self.port}.log"
        options = ["--data-dir", str(data_dir), "--port", str(self.port), "--ingest-token", TOKEN]
        if flush_interval is not None:
            options += ["--flush-interval", str(flush_interval)]
        env = {f"POOLSTATS_{name.upper()}": str(v) for name, v in (settings or {}).items()}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                poolstats("serve", *options, *args),
                stdout=log,
                stderr=log,
                env=_environment(env),
                preexec_fn=preexec_fn,
            )
        ready, what = (self.healthy, "say healthy") if until_healthy else (self.answers, "answer")
        try:
            wait_for(ready, 60, f"the server to {what} on /healthz")
        except BaseException:
            self.process.kill()  # a server that never came up is not left behind
            self.process.wait(30)
            raise

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _healthz(self) -> httpx.Response | None:
        """/healthz's answer, None while nothing answers; fails at once if the server exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=2)
        except httpx.TransportError:
            return None

    def answers(self) -> bool:
        return self._healthz() is not None

    def healthy(self) -> bool:
        answer = self._healthz()
        return answer is not None and answer.status_code == 200

    def health(self) -> httpx.Response:
        return httpx.get(self.url + "/healthz", timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        answer = httpx.get(self.url + path, params=params, timeout=30)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    def post(self, body: bytes) -> httpx.Response:
        """``body`` to POST /ingest/shares as NDJSON, with the node's token."""
        return httpx.post(
            self.url + "/ingest/shares", content=body, headers=INGEST_HEADERS, timeout=60
        )

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Every sample of that name on /metrics, in order: (labels, value)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return [
            (s.labels, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name
        ]

    def metric(self, name: str) -> float:
        """The first sample of that name on /metrics; 0 when there is none."""
        found = self.samples(name)
        return found[0][1] if found else 0.0

    def counters(self, name: str) -> dict[str, float]:
        """Samples of a labelled counter on /metrics, by the value of their one label."""
        return {next(iter(labels.values()), ""): value for labels, value in self.samples(name)}

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM, and the server must exit cleanly."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        assert code in (0, -signal.SIGTERM), (code, self.log())


class Process:
    """Any poolstats command as a long-running process (a gateway, an aggregator...), its
    settings given as ``POOLSTATS_<NAME>`` variables, its output in ``log_path``."""

    def __init__(
        self, log_path: Path, *args: str, settings: Mapping[str, object] | None = None
    ) -> None:
        self.log_path = log_path
        env = {f"POOLSTATS_{name.upper()}": str(v) for name, v in (settings or {}).items()}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                poolstats(*args), stdout=log, stderr=log, env=_environment(env)
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        """True while it runs; fails at once, with its log, if it exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"{self.log_path.name} exited:\n{self.log()}")
        return True

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM; it must exit cleanly."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            code = self.process.wait(60)
            assert code in (0, -signal.SIGTERM), (code, self.log())


class NodeServer:
    """An in-process node's API served by uvicorn on ``127.0.0.1:port`` (a free port unless
    given), on a thread. ``stop`` takes it off the network (the node, its journal and store
    stay); ``start`` puts it back on the same port."""

    def __init__(self, node: ApiNode, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ingest_url = self.url + "/ingest/shares"
        self._app = create_app(node.service, run_timers=False)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> NodeServer:
        config = uvicorn.Config(self._app, host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off")  # fmt: skip
        server = uvicorn.Server(config)
        self._server, self._thread = server, threading.Thread(target=server.run, daemon=True)
        self._thread.start()
        wait_for(lambda: server.started, 10, "the node to listen")
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None


def shares(worker: str, n: int, ts: float, diff: float = 1024.0, puid: int = 1) -> bytes:
    """An NDJSON body of ``n`` accepted shares of one worker."""
    line = msgspec.json.encode(
        {"ts": ts, "puid": puid, "worker": worker, "diff": diff, "accepted": True}
    )
    return (line + b"\n") * n


def stored(data_dir: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows of a query on ``data_dir``'s store (read-only: the node may be running)."""
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / DB}?mode=ro", uri=True)) as db:
        return db.execute(sql, params).fetchall()


def stored_counts(data_dir: Path) -> dict[str, int]:
    """worker -> accepted shares of sub-account 1, as the store has them."""
    return dict(stored(data_dir, "SELECT worker_name, accept_count FROM workers WHERE puid = 1"))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> content): "nothing changed on disk"."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }
