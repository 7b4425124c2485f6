"""Real parts for the tests of a stratum process apart from its node (whose API on a real
port is ``tests.nodes.NodeServer``): an HTTP forwarder that can lose answers, and a stratum
process running on its own thread and event loop."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import socket
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from poolstats.stratum.remote import StratumProcess
from tests.nodes import wait_for


@dataclass
class Forwarded:
    method: str
    path: str
    key: str  # Idempotency-Key as sent
    status: int  # what the node answered (0: not forwarded)
    replayed: bool  # the node answered with Idempotent-Replayed: true
    lost: bool  # the answer was not passed back


class Proxy:
    """Forwards requests to ``target``. The first POSTs follow ``script``: "lose" forwards
    the request, then closes the connection without the answer (the node journaled the
    batch, the sender never hears it); "503" answers 503 without forwarding."""

    def __init__(self, target: str, script: list[str] | None = None) -> None:
        self.target = target
        self.script = list(script or [])
        self.seen: list[Forwarded] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        passed = ("authorization", "content-type", "idempotency-key")
        headers = {k: v for k, v in request.headers.items() if k.lower() in passed}
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            action = self.script.pop(0) if request.command == "POST" and self.script else ""
        if action == "503":
            self._record(Forwarded(request.command, request.path, key, 0, False, False))
            request.send_response(503)
            request.send_header("Retry-After", "0")
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        answer = self._client.request(
            request.command, self.target + request.path, content=body, headers=headers
        )
        replayed = answer.headers.get("idempotent-replayed") == "true"
        lost = action == "lose"
        self._record(Forwarded(request.command, request.path, key, answer.status_code,
                               replayed, lost))  # fmt: skip
        if lost:
            request.close_connection = True  # no answer at all: the connection just closes
            return
        request.send_response(answer.status_code)
        for name in ("content-type", "idempotent-replayed", "retry-after"):
            if name in answer.headers:
                request.send_header(name, answer.headers[name])
        request.send_header("Content-Length", str(len(answer.content)))
        request.end_headers()
        request.wfile.write(answer.content)

    def _record(self, forwarded: Forwarded) -> None:
        with self._lock:
            self.seen.append(forwarded)

    def posts(self) -> list[Forwarded]:
        with self._lock:
            return [f for f in self.seen if f.method == "POST"]

    def gets(self) -> list[Forwarded]:
        with self._lock:
            return [f for f in self.seen if f.method == "GET"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.server.proxy.handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Running:
    """A stratum process on its own thread and event loop, as if it were another process."""

    def __init__(self, process: StratumProcess) -> None:
        self.process = process
        self.port = process.port
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self.process.run())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    def start(self) -> Running:
        self._thread.start()
        wait_for(self._listening, 10, "the stratum process to listen")
        return self

    def _listening(self) -> bool:
        if not self._thread.is_alive():
            raise AssertionError("the stratum process ended")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        task = self._task
        if task is not None:
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(30)
        assert not self._thread.is_alive()
