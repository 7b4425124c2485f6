"""What every Tangpool endpoint shares: the key, parameters, errors, answers and routes.

Tangpool's conventions, not BTC.COM's: every path is under ``/public/`` and written with a
trailing slash (the bare path answers too); the key comes as ``__access_key__`` in the query
or an ``X-Access-Key`` header (pool figures need none); an answer is the object itself, no
envelope; an error is an HTTP error with ``{"errorCode", "errorMsg"}``, the message leading
with the field it is about. Lists page the way Tangpool's did (``total``, ``per_page``,
``current_page``, ``last_page``, ``from``, ``to``, ``data``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.auth import Denied, Throttled, authorize, client_host
from poolstats.api.btccom.schemas import Page as PageNumber
from poolstats.api.node import ApiNode
from poolstats.api.params import ParamError, collect, convert, openapi_parameters, parse_int
from poolstats.api.threads import read
from poolstats.domain.earnings import btc_text
from poolstats.store.base import Store

PREFIX = "/public"
KEY_PARAM = "__access_key__"
T = TypeVar("T")
#: Every answer type a route was registered with, for the OpenAPI document's components.
ANSWERS: list[Any] = []


class TangpoolError(Exception):
    """An error answer: its HTTP status, Tangpool's ``errorCode`` and a message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers


def invalid(message: str) -> TangpoolError:
    """A bad parameter: 400 INVALID_ARGUMENT; ``message`` starts with the field."""
    return TangpoolError(400, "INVALID_ARGUMENT", message)


def not_found(message: str) -> TangpoolError:
    """Something the caller may not see or that is not there (a worker of another
    sub-account reads the same as none at all)."""
    return TangpoolError(404, "NOT_FOUND", message)


def error_response(exc: TangpoolError) -> Response:
    body = msgspec.json.encode({"errorCode": exc.code, "errorMsg": exc.message})
    return Response(
        body, status_code=exc.status, media_type="application/json", headers=exc.headers
    )


async def on_tangpool_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TangpoolError)
    return error_response(exc)


def owns(path: str) -> bool:
    """Whether an unknown path is Tangpool's to answer (in its error form): everything under
    ``/public/`` but BTC.COM's ``/public/v1/``."""
    return path.startswith(PREFIX + "/") and not path.startswith(PREFIX + "/v1/")


class Btc:
    """An amount that Tangpool wrote as a JSON number of BTC (``0.020001``). Kept in
    satoshis and written as the exact decimal ``btc_text`` makes (``0.02000100``), never
    through a float, by :func:`encode`."""

    __slots__ = ("sat",)

    def __init__(self, sat: int) -> None:
        self.sat = sat

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Btc) and other.sat == self.sat

    def __hash__(self) -> int:
        return hash(self.sat)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Btc):
        return msgspec.Raw(btc_text(value.sat).encode())
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _schema_hook(kind: type[Any]) -> dict[str, Any]:
    if kind is Btc:
        return {"type": "number", "description": "BTC, up to 8 decimal places"}
    raise NotImplementedError(f"no JSON schema for {kind.__name__}")


encode = msgspec.json.Encoder(enc_hook=_enc_hook).encode


def answer_schemas(answers: tuple[Any, ...]) -> tuple[tuple[dict[str, Any], ...], dict[str, Any]]:
    """(each answer type's schema, the components they refer to)."""
    return msgspec.json.schema_components(
        answers, schema_hook=_schema_hook, ref_template="#/components/schemas/{name}"
    )


@dataclass(frozen=True)
class Ask:
    """One request: its parameters, the key it brought and the node; ``now`` is read once,
    so that every figure of one answer is as of the same second."""

    service: ApiNode
    request: Request
    params: dict[str, str]
    key: str | None
    now: int

    @property
    def store(self) -> Store:
        return self.service.store

    @property
    def thresholds(self) -> tuple[int, int]:
        return self.service.settings.active_s, self.service.settings.inactive_s

    def puid(self) -> int:
        """The sub-account the key opens (``puid`` picks one; default: the account's first)."""
        state = self.request.app.state
        try:
            caller = authorize(
                state.grants, self.key, self.params.get("puid"), False, client_host(self.request)
            )
        except Throttled as exc:
            retry = {"Retry-After": str(exc.retry_after_s)}
            raise TangpoolError(429, "RESOURCE_EXHAUSTED", str(exc), retry) from None
        except Denied as exc:
            message = re.sub(r"^access_key:", f"{KEY_PARAM}:", str(exc))
            raise TangpoolError(401, "UNAUTHENTICATED", message) from None
        except ParamError as exc:
            raise invalid(str(exc)) from None
        return caller.puid

    def args(self, model: type[T]) -> T:
        """The parameters checked into ``model``. An empty one counts as absent, as a form
        with a field left blank means (``group=``: every group)."""
        given = {name: value for name, value in self.params.items() if value != ""}
        try:
            return convert(given, model)
        except ParamError as exc:
            raise invalid(str(exc)) from None


def int_path(name: str, value: str) -> int:
    try:
        return parse_int(name, value)
    except ParamError as exc:
        raise invalid(str(exc)) from None


class PageParams(msgspec.Struct):
    """A Tangpool list's one parameter: its pages have a fixed size."""

    page: PageNumber = 1


class Page(msgspec.Struct):
    """Tangpool's page of a list (``from``/``to``: the 1-based positions of the page's first
    and last items, null for an empty page)."""

    total: int
    per_page: int
    current_page: int
    last_page: int
    first: int | None = msgspec.field(name="from")
    last: int | None = msgspec.field(name="to")


def page_fields(page: int, per_page: int, total: int, shown: int) -> dict[str, Any]:
    """The paging fields of a :class:`Page` answer; ``last_page`` is at least 1."""
    offset = (page - 1) * per_page
    return {
        "total": total,
        "per_page": per_page,
        "current_page": page,
        "last_page": max(1, -(-total // per_page)),
        "first": offset + 1 if shown else None,
        "last": offset + shown if shown else None,
    }


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errorCode", "errorMsg"],
    "properties": {"errorCode": {"type": "string"}, "errorMsg": {"type": "string"}},
}
AUTH_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": KEY_PARAM,
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


def route(
    router: APIRouter,
    path: str,
    *,
    summary: str,
    answer: Any,
    params: type[Any] | None = None,
    auth: bool = True,
    can_miss: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a GET handler at ``PREFIX + path`` (documented, with its slash) and without
    the slash. The handler takes an :class:`Ask` and the path's ``{names}`` as strings and
    returns the answer object; it runs in a worker thread under the app's read limiter.
    ``can_miss``: the answer may be 404 though the path names no item."""
    names = re.findall(r"{(\w+)}", path)
    path_parameters = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    extra = {
        "parameters": path_parameters + openapi_parameters(params, AUTH_PARAMETERS if auth else [])
    }
    (schema,), _ = answer_schemas((answer,))
    ANSWERS.append(answer)
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "The answer.", "content": {"application/json": {"schema": schema}}},
        400: _error("INVALID_ARGUMENT: a parameter is missing or wrong (errorMsg names it)."),
    }
    if auth:
        responses[401] = _error(
            "UNAUTHENTICATED: missing, unknown or revoked key, or a foreign puid."
        )
        responses[429] = _error("RESOURCE_EXHAUSTED: too many wrong keys from this address lately.")
    if names or can_miss:
        responses[404] = _error("NOT_FOUND: no such item (of this sub-account), or none yet.")

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                params = await collect(request)
            except ParamError as exc:
                raise invalid(str(exc)) from None
            service: ApiNode = request.app.state.service
            key = params.get(KEY_PARAM) or request.headers.get("x-access-key")
            ask = Ask(service, request, params, key, int(service.clock.now()))
            work = functools.partial(handler, ask, **request.path_params)
            return Response(encode(await read(request, work)), media_type="application/json")

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        full = PREFIX + path
        for route_path, listed in ((full + "/", True), (full, False)):
            router.add_api_route(
                route_path,
                endpoint,
                methods=["GET"],
                summary=summary,
                include_in_schema=listed,
                response_class=Response,
                openapi_extra=extra,
                responses=responses,
            )
        return handler

    return register
