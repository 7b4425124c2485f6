"""A TCP proxy in front of a nats-server that can lose a JetStream acknowledgement: the
publish reaches the server and is stored, the publisher never hears it (its connection is
cut instead), as when a server dies between storing a batch and answering.

It reads the server's side of the NATS protocol (``MSG``/``HMSG`` frames with their byte
counts, everything else line by line) and passes the client's side through untouched. Every
PubAck it sees (a message whose payload is ``{"stream": ..., "seq": ...}``) is recorded, so a
test can tell a first copy from a duplicate the server recognised by its message id.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any


class NatsProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lose_acks = 0  # PubAcks still to lose (each cuts the connection it was on)
        self.lost: list[dict[str, Any]] = []  # PubAcks lost
        self.acks: list[dict[str, Any]] = []  # PubAcks passed on
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
            except OSError:
                client.close()  # the server is down: the client tries again
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            pair = (client, server)
            threading.Thread(target=self._pass, args=pair, daemon=True).start()
            threading.Thread(target=self._read_server, args=pair, daemon=True).start()

    def _pass(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                server.sendall(data)
        self._cut(client, server)

    def _read_server(self, client: socket.socket, server: socket.socket) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                buffer += data
                while (frame := _frame(buffer)) is not None:
                    raw, payload = frame
                    buffer = buffer[len(raw) :]
                    if not self._forward(payload):
                        self._cut(client, server)
                        return
                    client.sendall(raw)
        self._cut(client, server)

    def _forward(self, payload: bytes | None) -> bool:
        """Record a PubAck; False when it is to be lost."""
        if payload is None or not payload.startswith(b'{"stream"'):
            return True
        ack = json.loads(payload)
        with self._lock:
            if self.lose_acks > 0:
                self.lose_acks -= 1
                self.lost.append(ack)
                return False
            self.acks.append(ack)
        return True

    def _cut(self, *sockets: socket.socket) -> None:
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        self._cut(*sockets)


def _frame(buffer: bytes) -> tuple[bytes, bytes | None] | None:
    """The first whole frame of ``buffer`` and its payload (None for a line without one),
    or None until it has all arrived."""
    end = buffer.find(b"\r\n")
    if end < 0:
        return None
    line = buffer[:end]
    words = line.split()
    if not words or words[0] not in (b"MSG", b"HMSG"):
        return buffer[: end + 2], None
    size = int(words[-1])  # MSG: payload bytes; HMSG: header and payload bytes together
    header = int(words[-2]) if words[0] == b"HMSG" else 0
    total = end + 2 + size + 2
    if len(buffer) < total:
        return None
    return buffer[:total], buffer[end + 2 + header : end + 2 + size]
