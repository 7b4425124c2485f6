"""Bodies nested a thousand deep (JSON objects, arrays, form names ``a[a][a]...``) get each
dialect's parameter error on every operation of the OpenAPI document, with and without a
key; never a 500. Ingest keeps its rules: one bad line is refused, the others count."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tests.api.conftest import ALICE, COLUMNAR, T0, TOKEN, Node

DEPTH = 1000
NESTED_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH  # about 6 KB, as in the report
NESTED_ARRAY = b'{"page": 1, "a": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
TOP_LEVEL_ARRAY = b"[" * DEPTH + b"]" * DEPTH
NESTED_FORM = b"page=1&a" + b"[a]" * DEPTH + b"=1"
JSON, FORM = "application/json", "application/x-www-form-urlencoded"
# (body, content type, the field the error must name)
BODIES = [
    (NESTED_OBJECT, JSON, "a"),
    (NESTED_ARRAY, JSON, "a"),
    (TOP_LEVEL_ARRAY, JSON, "body"),
    (NESTED_FORM, FORM, "a"),
]
PATH_VALUES = {"worker_id": "1", "gid": "1", "name": "alice"}
NO_PARAMETERS = {"/healthz", "/metrics", "/ingest/users/{name}"}  # they read no body


def operations(node: Node) -> list[tuple[str, str]]:
    document: dict[str, Any] = node.client.app.openapi()  # type: ignore[attr-defined]
    return [(method, path) for path, item in document["paths"].items() for method in item]


def concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_the_document_has_every_operation_we_expect(node: Node) -> None:
    ops = operations(node)
    assert len(ops) >= 29  # the 29 of the report, and any added since
    assert {p for _, p in ops} >= NO_PARAMETERS | {"/ingest/shares", "/public/worker/share/"}


@pytest.mark.parametrize("keyed", [True, False], ids=["with key", "without key"])
@pytest.mark.parametrize(
    ("body", "content_type", "field"), BODIES, ids=["object", "array", "top", "form"]
)
def test_every_operation_answers_its_parameter_error(
    node: Node, keyed: bool, body: bytes, content_type: str, field: str
) -> None:
    checked, ops = 0, operations(node)
    for method, path in ops:
        if path.startswith("/ingest/") or path in NO_PARAMETERS:
            continue
        tangpool = path.startswith("/public/") and not path.startswith("/public/v1/")
        query = {"__access_key__" if tangpool else "access_key": node.key["alice"]}
        response = node.client.request(
            method,
            concrete(path),
            params=query if keyed else None,
            content=body,
            headers={"Content-Type": content_type},
        )
        where = (method, path, keyed)
        if tangpool:
            assert response.status_code == 400, where
            answer = response.json()
            assert answer["errorCode"] == "INVALID_ARGUMENT", where
            assert answer["errorMsg"].startswith(f"{field}: "), (where, answer)
        else:  # BTC.COM: err_no 1 in the envelope, HTTP 200
            assert response.status_code == 200, where
            answer = response.json()
            assert answer["err_no"] == 1 and answer["data"] is None, (where, answer)
            assert answer["err_msg"].startswith(f"{field}: "), (where, answer)
        checked += 1
    assert checked == len(ops) - 4  # all but ingest's two and /healthz, /metrics


@pytest.mark.parametrize(("body", "content_type", "field"), BODIES)
def test_operations_without_parameters_ignore_a_body(
    node: Node, body: bytes, content_type: str, field: str
) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in NO_PARAMETERS:
        plain = node.client.get(concrete(path), headers=bearer)
        sent = node.client.request(
            "GET", concrete(path), content=body, headers={"Content-Type": content_type, **bearer}
        )
        assert sent.status_code == plain.status_code == 200, path


def share_line(worker: str) -> bytes:
    event = {"ts": T0 - 5, "puid": ALICE, "worker": worker, "diff": 8.0, "accepted": True}
    return msgspec.json.encode(event)


@pytest.mark.parametrize(
    "bad",
    [
        NESTED_OBJECT,
        TOP_LEVEL_ARRAY,
        share_line("x")[:-1] + b',"extra":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
        share_line("x")[:-1] + b',"extra":' + NESTED_OBJECT + b"}",
    ],
    ids=["object", "array", "unknown member array", "unknown member object"],
)
def test_a_nested_ingest_line_is_refused_alone(node: Node, bad: bytes) -> None:
    body = share_line("rig1") + b"\n" + bad + b"\n" + share_line("rig2") + b"\n"
    response = node.post(body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2 and answer["rejected"] == 1
    assert [e["line"] for e in answer["errors"]] == [2]
    assert sorted(node.stored_workers(ALICE)) == ["rig1", "rig2"]
    assert node.post(body, token="wrong").status_code == 401  # no token: not even read


def test_a_nested_columnar_batch_is_400_naming_the_batch(node: Node) -> None:
    nested: Any = 1
    for _ in range(DEPTH * 5):
        nested = [nested]
    # msgpack nests by length prefixes: a deep array is 0x91 bytes, then the value
    tail = b"\xa5extra" + b"\x91" * (DEPTH * 5) + b"\x01"
    head = msgspec.msgpack.encode(
        {"ts": [T0], "diff": [1.0], "status": [0], "worker_idx": [0], "worker": ["w"]}
    )
    assert head[0] == 0x85  # a map of 5 members; make it 6 with the nested one
    body = b"\x86" + head[1:] + tail
    response = node.post(body, content_type=COLUMNAR)
    assert response.status_code == 400
    assert response.json()["errors"][0]["error"].startswith("columnar batch: ")
    assert node.service.engine.seq == 0
