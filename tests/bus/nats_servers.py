"""NATS servers of a test's own: one, or a JetStream cluster of three on loopback.

The failure tests stop and restart servers, which they cannot do to the shared one at
127.0.0.1:4222. Each server here listens on free ports, keeps its JetStream files in the
test's temporary folder (``-sd``), writes its log next to them, and is ready once its
monitoring endpoint ``/healthz`` answers 200 (JetStream up and, in a cluster, current).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.nodes import free_port, wait_for
from tests.services import in_ci

BINARY = shutil.which("nats-server") or "/usr/sbin/nats-server"


def require_binary() -> str:
    """The nats-server binary; skip without it (fail under CI, like tests.services)."""
    if not Path(BINARY).exists():
        reason = f"{BINARY} is not installed (apt-get install nats-server)"
        if in_ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return BINARY


class NatsServer:
    """One nats-server with JetStream; ``start``/``stop`` keep its ports and its files."""

    def __init__(self, folder: Path, name: str = "n1", max_payload: int | None = None) -> None:
        self.name = name
        self.folder = folder / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.monitor_port = free_port()
        self.cluster_port: int | None = None
        self.routes: list[int] = []
        self.max_payload = max_payload
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [require_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
        args += ["-m", str(self.monitor_port), "-js", "-sd", str(self.folder / "js")]
        args += ["-n", self.name]
        if self.max_payload is not None:  # no command-line flag for it: a config file
            config = self.folder / "server.conf"
            config.write_text(f"max_payload: {self.max_payload}\n")
            args += ["-c", str(config)]
        if self.cluster_port is not None:
            args += ["--cluster_name", "poolstats-test"]
            args += ["-cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            args += ["-routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        return args

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, wait: bool = True) -> None:
        assert self.process is None or self.process.poll() is not None
        with open(self.folder / "server.log", "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
        if wait:
            self.wait_ready()

    def ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"nats-server {self.name} exited:\n{self.log()}")
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1)
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for(self.ready, timeout, f"nats-server {self.name} to be healthy")

    def stop(self) -> None:
        """SIGTERM (a clean shutdown: JetStream writes its files out) and wait for the exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def cluster(folder: Path, size: int = 3) -> list[NatsServer]:
    """``size`` JetStream servers routed to each other (not started)."""
    servers = [NatsServer(folder, f"n{i + 1}") for i in range(size)]
    for s in servers:
        s.cluster_port = free_port()
    for s in servers:
        s.routes = [o.cluster_port for o in servers if o is not s and o.cluster_port]
    return servers
