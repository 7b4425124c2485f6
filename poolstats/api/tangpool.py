"""The Tangpool dialect: ``GET /public/worker/share/``, a sub-account's hashrate history.

Its own conventions, not BTC.COM's: the key comes as ``__access_key__`` or an ``X-Access-Key``
header, points are keyed by the END of each interval, and errors are HTTP errors with
``{"errorCode", "errorMsg"}``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.auth import Denied, Throttled, authorize, client_host
from poolstats.api.btccom.schemas import Count, StartTs
from poolstats.api.node import ApiNode
from poolstats.api.params import ParamError, collect, convert, openapi_parameters
from poolstats.api.threads import read
from poolstats.domain.history import bucket_sums, tangpool_share, tangpool_span
from poolstats.engine.snapshot import Level

router = APIRouter(tags=["Tangpool"])
PATH = "/public/worker/share"
DIMENSION_S = {"5m": 300, "15m": 900, "1h": 3600}


class ShareParams(msgspec.Struct):
    dimension: Literal["5m", "15m", "1h"]
    start_ts: StartTs
    count: Count


class SharePoint(msgspec.Struct):
    accept: str
    reject: str


class ShareAnswer(msgspec.Struct):
    unit: str
    share: dict[str, SharePoint | None]


class TangpoolError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers


def error_response(exc: TangpoolError) -> Response:
    body = msgspec.json.encode({"errorCode": exc.code, "errorMsg": exc.message})
    return Response(
        body, status_code=exc.status, media_type="application/json", headers=exc.headers
    )


async def on_tangpool_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TangpoolError)
    return error_response(exc)


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errorCode", "errorMsg"],
    "properties": {"errorCode": {"type": "string"}, "errorMsg": {"type": "string"}},
}
_AUTH = [
    {
        "name": "__access_key__",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The account's access key (or the X-Access-Key header).",
    },
    {"name": "X-Access-Key", "in": "header", "required": False, "schema": {"type": "string"}},
    {
        "name": "puid",
        "in": "query",
        "required": False,
        "schema": {"type": "integer"},
        "description": "Sub-account; default: the account's first.",
    },
]


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def share_history(request: Request, params: dict[str, str]) -> ShareAnswer:
    service: ApiNode = request.app.state.service
    key = params.get("__access_key__") or request.headers.get("x-access-key")
    try:
        grants, host = request.app.state.grants, client_host(request)
        puid = authorize(grants, key, params.get("puid"), False, host).puid
        p = convert(params, ShareParams)
    except Throttled as exc:
        retry = {"Retry-After": str(exc.retry_after_s)}
        raise TangpoolError(429, "RESOURCE_EXHAUSTED", str(exc), retry) from None
    except Denied as exc:
        raise TangpoolError(401, "UNAUTHENTICATED", str(exc)) from None
    except ParamError as exc:
        raise TangpoolError(400, "INVALID_ARGUMENT", str(exc)) from None
    now = int(service.clock.now())
    period_s = DIMENSION_S[p.dimension]
    span = tangpool_span(p.start_ts, p.count, period_s, now)
    rows = service.store.history(Level.SUBACCOUNT, period_s, puid, 0, span.first, span.stop)
    sums = bucket_sums(rows)
    unit, share = tangpool_share(sums, span)
    return ShareAnswer(
        unit=unit,
        share={ts: None if p is None else SharePoint(**p) for ts, p in share.items()},
    )


async def share(request: Request) -> Response:
    try:
        params = await collect(request)
    except ParamError as exc:
        raise TangpoolError(400, "INVALID_ARGUMENT", str(exc)) from None
    answer = await read(request, share_history, request, params)
    return Response(msgspec.json.encode(answer), media_type="application/json")


for _path, _listed in ((PATH + "/", True), (PATH, False)):
    router.add_api_route(
        _path,
        share,
        methods=["GET"],
        summary="A sub-account's hashrate history, keyed by interval end",
        include_in_schema=_listed,
        response_class=Response,
        openapi_extra={"parameters": openapi_parameters(ShareParams, _AUTH)},
        responses={
            200: {
                "description": "Points keyed by the end of each interval; null: no data.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ShareAnswer"}}
                },
            },
            400: _error("INVALID_ARGUMENT: a parameter is missing or wrong (errorMsg names it)."),
            401: _error("UNAUTHENTICATED: missing, unknown or revoked key, or a foreign puid."),
            429: _error("RESOURCE_EXHAUSTED: too many wrong keys from this address lately."),
        },
    )


def openapi_components() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        (ShareAnswer,), ref_template="#/components/schemas/{name}"
    )
    return components
