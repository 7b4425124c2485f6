"""A hostile client for tests/test_http_limits.py, run as its own process: it opens
connections to a server from several loopback source addresses, sends each nothing, half a
request line or half the headers, then only waits, and reports when the server closed each.

    python -m tests.http_holder PORT ADDRESSES PER_ADDRESS WAIT_S

Connections are opened at about ``RATE`` a second (a flood the test can measure the server
during, not a burst queued before it). Prints ``opened N`` once every connection is open,
then one JSON line: how many were opened, how many the server closed (EOF or reset) and the
seconds from the last opening to each close, sorted.
"""

from __future__ import annotations

import json
import resource
import selectors
import socket
import sys
import time

RATE = 5000.0
PARTS = (b"", b"GET /hea", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")


def main(port: int, addresses: int, per_address: int, wait_s: float) -> None:
    want = addresses * per_address + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    selector = selectors.DefaultSelector()
    opened, begin = 0, time.monotonic()
    for a in range(addresses):  # one client after the other, each opening all it has
        for n in range(per_address):
            ahead = opened / RATE - (time.monotonic() - begin)
            if ahead > 0:
                time.sleep(ahead)  # pacing, not waiting for anything
            sock = socket.socket()
            sock.bind((f"127.0.0.{a + 2}", 0))
            try:
                sock.connect(("127.0.0.1", port))
                sock.sendall(PARTS[n % len(PARTS)])
            except OSError:  # refused or reset at once: counted as closed by the server
                sock.close()
                opened += 1
                continue
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            opened += 1
    start = time.monotonic()
    closed = [0.0] * (opened - len(selector.get_map()))  # those closed while opening
    print(f"opened {opened}", flush=True)
    while selector.get_map() and time.monotonic() - start < wait_s:
        for key, _ in selector.select(timeout=0.1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if data and b"HTTP/1.1 503" not in data:
                continue  # an answer is not a close; wait for the EOF after it
            selector.unregister(sock)
            sock.close()
            closed.append(time.monotonic() - start)
    print(json.dumps({"opened": opened, "closed": sorted(closed)}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
