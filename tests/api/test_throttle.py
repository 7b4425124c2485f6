"""Wrong keys are throttled per client address: past the limit, that address's keyed
requests get 429 with Retry-After (each dialect's shape) before the key is looked at, until
the window passes; other addresses, a right key from another address included, are not
touched. Counted in /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import TOKEN, Node

LIMIT, WINDOW = 5, 60.0
GUESSER, OTHER = "192.0.2.10", "192.0.2.20"
WORKERS = "/v1/worker/stats"
TANGPOOL = "/public/worker/share/"
TANGPOOL_PARAMS = {"dimension": "1h", "start_ts": "-3600", "count": "1"}


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node(auth_failure_limit=LIMIT, auth_failure_window_s=WINDOW)


def client_at(node: Node, host: str) -> TestClient:
    """Another client of the same app, from ``host`` (the app is already running)."""
    return TestClient(node.client.app, client=(host, 40000))


def guess(client: TestClient, n: int) -> list[httpx.Response]:
    return [client.get(WORKERS, params={"access_key": f"wrong-{i}"}) for i in range(n)]


def test_access_keys_past_the_limit_get_429_until_the_window_passes(node: Node) -> None:
    guesser, other = client_at(node, GUESSER), client_at(node, OTHER)
    answers = guess(guesser, LIMIT + 3)
    assert [a.json()["err_no"] for a in answers] == [20001] * LIMIT + [429] * 3
    throttled = answers[-1]
    assert throttled.status_code == 429
    assert throttled.json()["data"] is None
    assert int(throttled.headers["Retry-After"]) == WINDOW  # the clock has not moved
    # refused before the key is looked at: the right key from there is refused too ...
    right = {"access_key": node.key["alice"]}
    assert guesser.get(WORKERS, params=right).status_code == 429
    # ... but not from another address, nor a public endpoint from the guesser's
    assert other.get(WORKERS, params=right).json()["err_no"] == 0
    assert guesser.get("/public/v1/pool/stats").json()["err_no"] == 0
    assert node.counter("poolstats_auth_failures_total", kind="access_key") == LIMIT
    assert node.counter("poolstats_auth_throttled_total", kind="access_key") == 4
    node.clock.advance(WINDOW - 1)
    assert int(guesser.get(WORKERS, params=right).headers["Retry-After"]) == 1
    node.clock.advance(1)
    assert guesser.get(WORKERS, params=right).json()["err_no"] == 0


def test_mistakes_that_are_not_wrong_keys_do_not_count(node: Node) -> None:
    guesser = client_at(node, GUESSER)
    for _ in range(LIMIT * 2):
        assert guesser.get(WORKERS).json()["err_no"] == 20001  # no key at all
        foreign = {"access_key": node.key["bob"], "puid": "1"}  # a right key, not its puid
        assert guesser.get(WORKERS, params=foreign).json()["err_no"] == 20001
    assert guesser.get(WORKERS, params={"access_key": node.key["alice"]}).json()["err_no"] == 0
    assert node.counter("poolstats_auth_failures_total", kind="access_key") == 0


def test_tangpool_answers_429_in_its_own_shape(node: Node) -> None:
    guesser = client_at(node, GUESSER)
    for i in range(LIMIT):
        answer = guesser.get(TANGPOOL, params={**TANGPOOL_PARAMS, "__access_key__": f"w{i}"})
        assert answer.status_code == 401
    answer = guesser.get(TANGPOOL, params={**TANGPOOL_PARAMS, "__access_key__": "w"})
    assert answer.status_code == 429
    assert answer.json()["errorCode"] == "RESOURCE_EXHAUSTED"
    assert int(answer.headers["Retry-After"]) == WINDOW
    # one budget for the address across both dialects: access keys are one kind
    assert guesser.get(WORKERS, params={"access_key": node.key["alice"]}).status_code == 429
    other = client_at(node, OTHER).get(
        TANGPOOL, params=TANGPOOL_PARAMS, headers={"X-Access-Key": node.key["alice"]}
    )
    assert other.status_code == 200


def test_keys_in_headers_are_throttled_too(node: Node) -> None:
    """The dashboard's way in: its key form sends X-Access-Key to the API."""
    guesser = client_at(node, GUESSER)
    for i in range(LIMIT):
        wrong = guesser.get("/v1/worker/stats", headers={"X-Access-Key": f"w{i}"})
        assert wrong.json()["err_no"] == 20001
    right = {"X-Access-Key": node.key["alice"]}
    refused = guesser.get("/v1/worker/stats", headers=right)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert client_at(node, OTHER).get("/v1/worker/stats", headers=right).json()["err_no"] == 0


def post_shares(client: TestClient, token: str) -> httpx.Response:
    return client.post(
        "/ingest/shares",
        content=b"",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )


def test_ingest_tokens_past_the_limit_get_429_on_both_endpoints(node: Node) -> None:
    guesser, other = client_at(node, GUESSER), client_at(node, OTHER)
    assert [post_shares(guesser, f"t{i}").status_code for i in range(LIMIT)] == [401] * LIMIT
    refused = post_shares(guesser, TOKEN)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == WINDOW
    assert refused.json()["accepted"] == 0 and refused.json()["errors"][0]["line"] == 0
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    users = guesser.get("/ingest/users/alice", headers=bearer)
    assert users.status_code == 429 and "error" in users.json()
    assert post_shares(other, TOKEN).status_code == 200
    assert other.get("/ingest/users/alice", headers=bearer).json() == {"puid": 1}
    # tokens and access keys are separate budgets: the guesser's API key still works
    assert guesser.get(WORKERS, params={"access_key": node.key["alice"]}).json()["err_no"] == 0
    assert node.counter("poolstats_auth_failures_total", kind="ingest_token") == LIMIT
    assert node.counter("poolstats_auth_throttled_total", kind="ingest_token") == 2
    assert node.counter("poolstats_ingest_requests_refused_total", reason="throttled") == 2
    node.clock.advance(WINDOW)
    assert post_shares(guesser, TOKEN).status_code == 200


def test_a_request_without_a_token_is_not_counted(node: Node) -> None:
    guesser = client_at(node, GUESSER)
    for _ in range(LIMIT * 2):
        assert guesser.post("/ingest/shares", content=b"").status_code == 401
    assert post_shares(guesser, TOKEN).status_code == 200
    assert node.counter("poolstats_auth_failures_total", kind="ingest_token") == 0


def test_limit_zero_throttles_nothing(make_node: Callable[..., Node]) -> None:
    node = make_node(auth_failure_limit=0)
    guesser = client_at(node, GUESSER)
    assert {a.json()["err_no"] for a in guess(guesser, 50)} == {20001}
    assert guesser.get(WORKERS, params={"access_key": node.key["alice"]}).json()["err_no"] == 0


def test_concurrent_wrong_keys_get_no_more_tries_than_the_limit(
    make_node: Callable[..., Node],
) -> None:
    """Every guess is in flight at once: none is answered before all have been admitted
    to a look-up or refused, so a throttle that records failures only after the look-up
    would let all of them through."""
    guesses = LIMIT * 4
    node = make_node(
        auth_failure_limit=LIMIT, auth_failure_window_s=WINDOW, api_threads=guesses
    )  # a thread for each guess: none waits for another's look-up to end
    guesser = client_at(node, GUESSER)
    done = threading.Condition()
    looking_up, refused = 0, 0
    real_key_grant = node.service.store.key_grant

    def key_grant(access_key: str) -> Any:
        nonlocal looking_up
        with done:
            looking_up += 1
            done.notify_all()
            # hold every look-up until each guess is in one or has been refused
            assert done.wait_for(lambda: looking_up + refused == guesses, timeout=5)
        return real_key_grant(access_key)

    def one(i: int) -> int:
        nonlocal refused
        answer = guesser.get(WORKERS, params={"access_key": f"concurrent-{i}"})
        err_no = int(answer.json()["err_no"])
        if err_no == 429:
            with done:
                refused += 1
                done.notify_all()
        return err_no

    # One wrong key first: from then on the guesses in flight count against the limit (a
    # client that has never failed is not held to its concurrency, see domain.throttle).
    assert guesser.get(WORKERS, params={"access_key": "first"}).json()["err_no"] == 20001
    node.service.store.key_grant = key_grant  # type: ignore[method-assign]
    with ThreadPoolExecutor(guesses) as pool:
        answers = sorted(pool.map(one, range(guesses)))
    assert answers == [429] * (guesses - LIMIT + 1) + [20001] * (LIMIT - 1)
    assert node.counter("poolstats_auth_failures_total", kind="access_key") == LIMIT
