"""``GET /ingest/users/{name}``: a sub-account's puid for a stratum process apart from its
node, behind the ingest token."""

from __future__ import annotations

import pytest

from tests.api.conftest import ALICE, BOB, T0, TOKEN, Node

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_a_known_name_answers_its_puid(node: Node) -> None:
    for name, puid in (("alice", ALICE), ("bob", BOB)):
        response = node.client.get(f"/ingest/users/{name}", headers=AUTH)
        assert (response.status_code, response.json()) == (200, {"puid": puid})


def test_a_sub_account_created_while_running_is_found(node: Node) -> None:
    carol = node.service.store.create_user("carol", int(T0)).puid
    response = node.client.get("/ingest/users/carol", headers=AUTH)
    assert (response.status_code, response.json()) == (200, {"puid": carol})
    assert carol not in (ALICE, BOB)


def test_an_unknown_name_is_404_naming_it(node: Node) -> None:
    response = node.client.get("/ingest/users/mallory", headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"error": "name: no sub-account named 'mallory'"}


def test_names_are_matched_exactly(node: Node) -> None:
    assert node.client.get("/ingest/users/Alice", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("name", "why"),
    [("a%21b", "contains '!'"), ("x" * 65, "65 characters long"), ("a.b", "contains '.'")],
)
def test_a_name_no_sub_account_can_have_is_400_naming_the_field(
    node: Node, name: str, why: str
) -> None:
    response = node.client.get(f"/ingest/users/{name}", headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("name: ") and why in error


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_the_ingest_token_is_required(node: Node, headers: dict[str, str]) -> None:
    response = node.client.get("/ingest/users/alice", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "puid" not in response.json()
    assert node.counter("poolstats_ingest_requests_refused_total", reason="unauthorized") == 1
