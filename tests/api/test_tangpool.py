"""Tangpool's /public/worker/share/, golden, and its own error shapes."""

from __future__ import annotations

import pytest

from tests.api.conftest import Node
from tests.api.golden import H0, load


@pytest.fixture
def loaded(node: Node) -> Node:
    load(node)
    return node


def test_share_golden_points_keyed_by_interval_end(loaded: Node) -> None:
    # 15m, the last hour: intervals H0-3600 ... H0 (closed ones only). rig2's 30 * 2^20 at
    # T0 - 2000 = H0 - 1200 fall in the interval ending H0 - 900: 30 * 2^52 / 900 = 150.120 T.
    response = loaded.client.get(
        "/public/worker/share/",
        params={"count": 4, "dimension": "15m", "start_ts": -3600,
                "__access_key__": loaded.key["alice"]},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json() == {
        "unit": "T",
        "share": {
            str(H0 - 2700): None,
            str(H0 - 1800): None,
            str(H0 - 900): {"accept": "150.120", "reject": "0.000"},
            str(H0): None,
        },
    }


def test_share_takes_the_key_from_a_header_and_puid_selects(loaded: Node) -> None:
    params = {"count": 4, "dimension": "1h", "start_ts": -7200}
    headers = {"X-Access-Key": loaded.key["alice"]}
    answer = loaded.client.get("/public/worker/share", params=params, headers=headers)
    # 1h: the interval H0-3600 (ends H0) holds rig2's 30 * 2^20: 2^52 / 120 = 37.530 T
    assert answer.json() == {"unit": "T", "share": {str(H0 - 3600): None, str(H0): {
        "accept": "37.530", "reject": "0.000"}}}  # fmt: skip
    foreign = loaded.client.get(
        "/public/worker/share/", params={**params, "puid": 2}, headers=headers
    )
    assert foreign.status_code == 401
    assert foreign.json()["errorCode"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"dimension": "1d", "start_ts": -3600, "count": 4}, "dimension"),
        ({"dimension": "5m", "start_ts": "soon", "count": 4}, "start_ts"),
        ({"dimension": "5m", "start_ts": -3600, "count": 0}, "count"),
        ({"dimension": "5m", "start_ts": -3600, "count": 1001}, "count"),
        ({"start_ts": -3600, "count": 4}, "dimension"),
    ],
)
def test_bad_arguments_are_400_invalid_argument_naming_the_field(
    loaded: Node, params: dict[str, object], field: str
) -> None:
    response = loaded.client.get(
        "/public/worker/share/", params={**params, "__access_key__": loaded.key["alice"]}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == "INVALID_ARGUMENT"
    assert body["errorMsg"].startswith(f"{field}:")


@pytest.mark.parametrize("key", [None, "", "not-a-key"])
def test_missing_or_unknown_key_is_401(loaded: Node, key: str | None) -> None:
    params: dict[str, object] = {"dimension": "5m", "start_ts": -3600, "count": 4}
    if key is not None:
        params["__access_key__"] = key
    response = loaded.client.get("/public/worker/share/", params=params)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHENTICATED"
