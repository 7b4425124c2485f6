"""HTTP connections a hostile client cannot hoard: uvicorn's httptools protocol with a
deadline for each request's headers, caps on open connections (per client and in all), and
a closing that stops reading a body nobody will use.

uvicorn bounds only the idle time between keep-alive requests (``timeout_keep_alive``). A
connection that sends nothing, or half a request line, stays open for ever, and about
20,000 of them exhausted the process's file descriptors, so that ``/healthz`` and ingest
failed. Here a connection must finish each request's headers within
``http_header_timeout_s`` of opening or of its previous answer, and the request's body
within ``http_body_timeout_s`` of its headers (until then it still counts as waiting, so it
makes room like one that sends nothing); the caps of
:mod:`poolstats.domain.connection_caps` decide who makes room when too many are open; and
the total cap follows the process's file limit, so the listening socket, the store and the
journal always have descriptors left.

An answer sent before its request's body was read (a 413, a parameter error, an endpoint
that takes no body) closes the connection after it (:class:`CloseUnreadBodies` adds
``Connection: close``), and then uvicorn's close of the transport becomes a lingering one:
the answer and a FIN go out, at most ``LINGER_BYTES`` more of the body are read and dropped
so that a client still sending can read the answer, and the socket is closed when the
client closes its side or after ``LINGER_S``. Nothing more of a declared 4 GiB is read.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Callable
from typing import Any, ClassVar

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from poolstats.config import Settings
from poolstats.domain.addresses import Trusted, client_key
from poolstats.domain.connection_caps import ConnectionCaps
from poolstats.metrics import Metrics

LINGER_S = 2.0  # how long a closing connection may take to read its answer and close
LINGER_BYTES = 1 << 20  # body bytes read and dropped while lingering, then reading stops
UNREAD_BODY_ALLOWANCE = 64 * 1024  # a smaller unread body is read through: keep-alive stays
FILE_RESERVE_MIN = 256  # descriptors kept from HTTP connections at the least
# Connections the kernel completes before the server accepts them. A flood opening thousands
# a second overflows uvicorn's 2,048 while the loop is busy, and a dropped SYN costs an
# honest client a 1 s retransmission; Linux caps it at net.core.somaxconn (4,096 nowadays).
LISTEN_BACKLOG = 4096
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\n"
    b"content-type: text/plain\r\ncontent-length: 21\r\n\r\ntoo many connections\n"
)


def total_cap(setting: int) -> int:
    """``http_max_connections``, or for 0 the file limit less a quarter (at least
    ``FILE_RESERVE_MIN``; half when the limit is smaller than twice that)."""
    if setting > 0:
        return setting
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    reserve = max(FILE_RESERVE_MIN, soft // 4)
    return soft - reserve if reserve * 2 <= soft else max(soft // 2, 1)


class Gate:
    """What all connections of one server share: the caps, the deadlines and the metrics."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.caps: ConnectionCaps[GuardedHttp] = ConnectionCaps(
            settings.http_max_connections_per_address, total_cap(settings.http_max_connections)
        )
        self.trusted = Trusted.parse(settings.forwarded_allow_ips)
        self.header_timeout_s = settings.http_header_timeout_s
        self.body_timeout_s = settings.http_body_timeout_s
        self.metrics = metrics

    def closed(self, reason: str) -> None:
        self.metrics.http_closed.labels(reason).inc()

    def count(self) -> None:
        self.metrics.http_connections.set(len(self.caps))


def http_options(settings: Settings, metrics: Metrics) -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments that apply these limits."""
    protocol = type("GuardedHttpServer", (GuardedHttp,), {"gate": Gate(settings, metrics)})
    return {
        "http": protocol,
        "backlog": LISTEN_BACKLOG,
        "ws": "none",  # no WebSocket endpoint: an upgrade would leave these limits behind
        "timeout_keep_alive": settings.http_keep_alive_s,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }


class _LingeringTransport:
    """The transport as uvicorn sees it: ``close`` lingers while a request body is still
    coming (see the module's docstring); everything else is the real transport's."""

    def __init__(self, real: asyncio.Transport, protocol: GuardedHttp) -> None:
        self._real, self._protocol = real, protocol

    def close(self) -> None:
        self._protocol.close_connection()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._real.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class GuardedHttp(HttpToolsProtocol):
    """One HTTP connection; ``gate`` is set on the subclass :func:`http_options` makes."""

    gate: ClassVar[Gate]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.real_transport = transport
        self.lingering = False
        self._lost = False
        self._deadline: asyncio.TimerHandle | None = None
        self._body_coming = False  # headers complete, body not yet: the body deadline runs
        self._linger_read = 0
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        gate = self.gate
        host = self.client[0] if self.client else ""
        admission = gate.caps.open(self, client_key(host), capped=host not in gate.trusted)
        for other, cap in admission.evicted:
            gate.closed("evicted_" + cap)
            other.real_transport.close()
        gate.count()
        if not admission.admitted:
            gate.closed("refused_" + admission.refused_by)
            transport.write(REFUSAL)
            transport.close()
            return
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._disarm()
        self.gate.caps.close(self)
        self.gate.count()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:  # the answer is out; the rest of the body is dropped unparsed
            self._linger_read += len(data)
            if self._linger_read > LINGER_BYTES:
                self.real_transport.pause_reading()
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if self.lingering:  # the client has read the answer and closed its side
            self.real_transport.close()

    def on_headers_complete(self) -> None:
        # Still waiting (evictable) until the body is complete, which must be within the body
        # deadline. A request without a body completes in this same parse, before any other
        # connection can evict this one.
        self._body_coming = True
        self._arm(self.gate.body_timeout_s, self._body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_coming:
            self._body_coming = False
            self._disarm()
            self.gate.caps.busy(self)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        queued = bool(self.pipeline)
        super().on_response_complete()
        if not queued and not self.transport.is_closing():
            # answered before the body's end: the header deadline covers the rest of it
            self._body_coming = False
            self.gate.caps.waiting(self)
            self._arm_header_deadline()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.gate.closed("idle")
        super().timeout_keep_alive_handler()

    def close_connection(self) -> None:
        """uvicorn closes the transport: at once, or lingering while a body still comes."""
        if self.lingering or self._lost:
            return
        body_coming = self.cycle is not None and self.cycle.more_body and self.parser is not None
        if not body_coming or not self.real_transport.can_write_eof():
            self.real_transport.close()
            return
        self.lingering = True
        self._disarm()
        self.gate.closed("unread_body")
        self.real_transport.write_eof()  # after the answer already written: the client's EOF
        self.real_transport.resume_reading()
        self._deadline = self.loop.call_later(LINGER_S, self.real_transport.close)

    def _arm_header_deadline(self) -> None:
        self._arm(self.gate.header_timeout_s, self._header_timeout)

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _header_timeout(self) -> None:
        self._expired("header_timeout")

    def _body_timeout(self) -> None:
        self._expired("body_timeout")

    def _expired(self, reason: str) -> None:
        self._deadline = None
        if not self.real_transport.is_closing():
            self.gate.closed(reason)
            self.real_transport.close()


class CloseUnreadBodies:
    """ASGI middleware: an answer sent before its request's body was read to the end says
    ``Connection: close``, unless what is left is declared and small (read through, as a
    keep-alive connection needs). Otherwise the server would go on reading, and dropping, a
    body of any declared size after answering: 4 GiB took a second of CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if not chunked and not declared.strip(b"0"):  # no body: nothing to watch
            await self.app(scope, receive, send)
            return
        ended = False  # the last chunk of the body was received
        unread = int(declared) if declared.isdigit() else 0

        async def receiving() -> Message:
            nonlocal ended, unread
            message = await receive()
            if message["type"] == "http.request":
                unread -= len(message.get("body", b""))
                ended = not message.get("more_body", False)
            return message

        async def sending(message: Message) -> None:
            unfinished = not ended and (chunked or unread > UNREAD_BODY_ALLOWANCE)
            if message["type"] == "http.response.start" and unfinished:
                extra = [(b"connection", b"close")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except ClientDisconnect:  # closed mid-body by the client or a deadline: nobody to
            return  # answer, and no error to log for each of a flood of them
