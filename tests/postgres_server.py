"""A PostgreSQL server of a test's own (initdb in a temporary folder, a free port), for tests
that stop and start the database under a running cluster without touching the machine's."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.nodes import free_port, wait_for
from tests.services import in_ci

BIN = Path("/usr/lib/postgresql")


def _bin_dir() -> Path:
    found = sorted(BIN.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        reason = "PostgreSQL's server binaries are not installed (apt-get install postgresql)"
        if in_ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    return found[-1].parent


class PostgresServer:
    """``start``/``stop`` keep its folder and port; ``url`` is its ``postgres`` database."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        self.folder = folder = Path(tempfile.mkdtemp(prefix="poolstats-pg-"))
        self.data = folder / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root: as the postgres user
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
            self._as = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self._as, str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
             "-U", "postgres", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
             str(self.folder / "server.log"), *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._ctl("start", "-o", options)
        wait_for(self.ready, 30, "PostgreSQL to accept connections")

    def ready(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, clients cut off."""
        self._ctl("stop", "-m", "fast")

    def remove(self) -> None:
        """Stop it if it runs, and delete its files."""
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
