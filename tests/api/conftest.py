"""A real node for the HTTP tests: a ``Service`` on ``tmp_path`` with a ``FakeClock``, two
sub-accounts, and a ``TestClient`` whose lifespan closes the service when the test ends."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from poolstats.api.app import create_app
from poolstats.clock import FakeClock
from poolstats.config import Settings
from poolstats.service import Service

T0 = 1_700_000_000.0  # a multiple of 10 s: the 1m window holds shares from T0 - 50 on
TOKEN = "t0k"
MAX_BODY = 64 * 1024
NDJSON = "application/x-ndjson"
COLUMNAR = "application/vnd.poolstats.shares+msgpack"
ALICE, BOB = 1, 2  # the puids a fresh database gives the two sub-accounts


def ndjson(*lines: dict[str, Any] | str) -> bytes:
    """Dicts become JSON lines; strings go as they are (malformed lines, blank lines)."""
    out = [msgspec.json.encode(x).decode() if isinstance(x, dict) else x for x in lines]
    return ("\n".join(out) + "\n").encode()


@dataclass
class Node:
    service: Service
    client: TestClient
    clock: FakeClock
    puid: dict[str, int]
    key: dict[str, str]  # each account's read-write access key

    def post(
        self,
        body: bytes | Iterable[bytes],
        content_type: str | None = NDJSON,
        token: str | None = TOKEN,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        response: httpx.Response = self.client.post("/ingest/shares", content=body, headers=sent)
        return response

    def ingest(self, *lines: dict[str, Any] | str) -> dict[str, Any]:
        """POST NDJSON lines; the answer must be a 200."""
        response = self.post(ndjson(*lines))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def metrics(self, sample: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample of that name on /metrics, by its sorted labels."""
        response = self.client.get("/metrics")
        assert response.status_code == 200
        values: dict[tuple[tuple[str, str], ...], float] = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                if s.name == sample:
                    values[tuple(sorted(s.labels.items()))] = s.value
        return values

    def counter(self, sample: str, **labels: str) -> float:
        return self.metrics(sample).get(tuple(sorted(labels.items())), 0.0)

    def api(self, method: str, path: str, user: str = "alice", **params: Any) -> Any:
        """A BTC.COM-dialect call as ``user`` (key in the query); returns the envelope after
        checking it is one (HTTP 200, the three fixed fields)."""
        query = {"access_key": self.key[user], **params} if user else params
        response = self.client.request(method, path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"err_no", "err_msg", "data"}, body
        return body

    def data(self, path: str, user: str = "alice", **params: Any) -> Any:
        """GET and return ``data`` of a successful answer."""
        body = self.api("GET", path, user, **params)
        assert body["err_no"] == 0 and body["err_msg"] is None, body
        return body["data"]

    def stored_workers(self, puid: int) -> dict[str, dict[str, Any]]:
        """Flush, then the sub-account's worker rows from the store by worker name."""
        self.service.flush()
        return {w["worker_name"]: w for w in self.service.store.workers(puid)}


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Nodes with settings overridden as given; each in its own data folder."""
    with contextlib.ExitStack() as stack:
        made = 0

        def make(**overrides: Any) -> Node:
            nonlocal made
            made += 1
            settings = dataclasses.replace(
                Settings(
                    data_dir=tmp_path / f"node{made}",
                    ingest_token=TOKEN,
                    flush_interval_s=3600.0,  # timers do not run; tests flush themselves
                    future_s=300.0,
                    max_body_bytes=MAX_BODY,
                ),
                **overrides,
            )
            clock = FakeClock(T0)
            service = Service(settings, clock=clock)
            service.recover()
            users = {name: service.store.create_user(name, int(T0)) for name in ("alice", "bob")}
            puid = {name: user.puid for name, user in users.items()}
            assert puid == {"alice": ALICE, "bob": BOB}
            client = stack.enter_context(TestClient(create_app(service, run_timers=False)))
            return Node(service, client, clock, puid, {n: u.access_key for n, u in users.items()})

        yield make


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node()
