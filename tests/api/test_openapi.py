"""The OpenAPI document lists every endpoint with its parameters, and schemathesis, fuzzing
every operation from it, finds no server error and no answer outside its schema."""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.conftest import Node
from tests.api.golden import load

ENDPOINTS = {
    ("get", "/v1/worker/groups"): {"page", "page_size"},
    ("get", "/v1/worker/stats"): set(),
    ("get", "/v1/worker/share-history"): {"dimension", "start_ts", "count", "real_point"},
    ("get", "/v1/worker"): {
        "status", "group", "page", "page_size", "filter", "order_by", "asc"
    },
    ("get", "/v1/worker/{worker_id}"): set(),
    ("get", "/v1/worker/{worker_id}/share-history"): {
        "dimension", "start_ts", "count", "real_point"
    },
    ("post", "/v1/worker/update"): {"worker_id", "group_id"},
    ("post", "/v1/groups/create"): {"group_name"},
    ("post", "/v1/groups/update/{gid}"): {"group_name"},
    ("post", "/v1/groups/delete/{gid}"): set(),
    ("get", "/v1/groups/{gid}"): set(),
    ("get", "/public/v1/pool/stats"): {"sums"},
    ("get", "/public/v1/pool/stats/merge"): set(),
    ("get", "/v1/account/info"): set(),
    ("get", "/v1/account/earn-stats"): set(),
    ("get", "/v1/account/earn-history"): {"page", "page_size"},
    ("get", "/v1/realtime/hashrate"): set(),
    ("post", "/v1/account/pay/limit"): {"amount"},
    ("get", "/public/worker/share/"): {"dimension", "start_ts", "count"},
    ("get", "/v1/pool/blocks"): {"page", "page_size"},
}  # fmt: skip
PUBLIC = {
    "/public/v1/pool/stats", "/public/v1/pool/stats/merge", "/public/worker/share/",
    "/v1/pool/blocks",
}  # fmt: skip


def test_openapi_lists_every_endpoint_with_its_parameters(node: Node) -> None:
    document = node.client.get("/openapi.json").json()
    for (method, path), wanted in ENDPOINTS.items():
        operation = document["paths"][path][method]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        auth = set() if path in PUBLIC else {"access_key", "puid"}
        if path == "/public/worker/share/":
            auth = {"__access_key__", "puid"}
        assert names == wanted | auth, (method, path, names)
    assert node.client.get("/docs").status_code == 200


def test_fuzzed_requests_get_no_server_error_and_schema_conformant_answers(node: Node) -> None:
    load(node)
    node.api("POST", "/v1/groups/create", group_name="g1")
    # Requests go through the node's own client: schemathesis's ASGI transport would run the
    # app's lifespan around each call, closing the service.
    schema = schemathesis.openapi.from_dict(node.client.get("/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= len(ENDPOINTS)
    # Positive cases follow the schema; negative ones break it (wrong types, out of range).
    send = node.client.request
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=50,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: CI never turns red by chance
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A valid key half of the time, so that requests reach past authorisation.
            query = case.query
            if query is not None and "access_key" in query and zlib.crc32(str(query).encode()) % 2:
                query["access_key"] = node.key["alice"]
                query.pop("puid", None)
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            try:
                response = send(
                    kwargs["method"],
                    kwargs["url"],
                    params=kwargs.get("params"),
                    headers=kwargs.get("headers"),
                    content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None,
                    json=kwargs.get("json"),
                )
            except httpx.InvalidURL:  # longer than any HTTP client sends: nothing to test
                reject()
            assert response.status_code < 500, (case.path, case.query, response.text)
            case.validate_response(
                response, checks=(response_schema_conformance, content_type_conformance)
            )

        try:
            check()
        except Unsatisfiable:  # nothing to break in an operation without parameters
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
