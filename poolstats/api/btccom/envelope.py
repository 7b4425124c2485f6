"""BTC.COM's envelope ``{"err_no", "err_msg", "data"}`` and what every endpoint shares:
parameters, the caller, errors and the registration of a path with and without its slash.

API errors travel with HTTP 200, as BTC.COM's did: its clients read ``err_no``, not the status.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from fastapi import APIRouter, Request, Response

from poolstats.api.auth import (
    Caller,
    Denied,
    Grants,
    Throttled,
    WatcherDenied,
    authorize,
    client_host,
)
from poolstats.api.geoip import LANGUAGES
from poolstats.api.node import ApiNode
from poolstats.api.params import ParamError, collect, convert, openapi_parameters, parse_int
from poolstats.api.threads import read
from poolstats.store.base import Store

PARAM_ERROR = 1
NO_PERMISSION = 20001
WATCHER_DENIED = 20002  # BTC.COM's "observer and puid do not match, or no such permission"
NOT_FOUND = 404  # unknown path; not one of BTC.COM's documented codes, so its own number
TOO_MANY = 429  # too many wrong keys from the client's address; its own number too

#: The language of text fields (``ip2location``) when ``lang`` is not given: Chinese, as in
#: the example of BTC.COM's (Chinese) worker document, which sends no ``lang``.
DEFAULT_LANG = "zh-cn"

#: Keys may come in headers too, as Tangpool's ``X-Access-Key``: a header is never part of a
#: URL, which servers and proxies log and a Referer hands to other sites. The dashboard sends
#: its key this way.
KEY_HEADERS = {"access_key": "x-access-key", "watcher_token": "x-watcher-token"}

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode

AUTH_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "access_key",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
        "description": "The account's access key (also accepted in a form or JSON body, or "
        "the X-Access-Key header). Reads take a watcher link's watcher_token instead (or the "
        "X-Watcher-Token header): its one sub-account only (err_no 20002 for another puid or "
        "a write).",
    },
    {"name": "X-Access-Key", "in": "header", "required": False, "schema": {"type": "string"}},
    {"name": "X-Watcher-Token", "in": "header", "required": False, "schema": {"type": "string"}},
    {
        "name": "puid",
        "in": "query",
        "required": False,
        "schema": {"type": "integer"},
        "description": "Sub-account; default: the account's first.",
    },
]


class ApiError(Exception):
    """An error answer; HTTP 200 as BTC.COM's, except a throttled client's 429."""

    def __init__(
        self, err_no: int, message: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.err_no = err_no
        self.message = message
        self.status, self.headers = status, headers or {}


def envelope(data: Any, err_no: int = 0, err_msg: str | None = None, status: int = 200) -> Response:
    body = _encode({"err_no": err_no, "err_msg": err_msg, "data": data})
    return Response(body, status_code=status, media_type="application/json")


def ok(data: Any) -> Response:
    return envelope(data)


async def on_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = envelope(None, exc.err_no, exc.message, status=exc.status)
    response.headers.update(exc.headers)
    return response


@dataclass(frozen=True)
class Call:
    """One request's parameters and node; endpoints ask it who calls and for their arguments.

    ``now`` is read once, so that every figure of one answer is as of the same second."""

    service: ApiNode
    grants: Grants
    params: dict[str, str]
    now: int
    host: str  # the client's address, for the throttle of wrong keys
    lang: str = DEFAULT_LANG  # of the answer's text fields, one of ``geoip.LANGUAGES``

    @property
    def store(self) -> Store:
        return self.service.store

    @property
    def thresholds(self) -> tuple[int, int]:
        return self.service.settings.active_s, self.service.settings.inactive_s

    def caller(self, write: bool = False, watchers: bool = True) -> Caller:
        """``watchers`` False: a read only the account's own keys may make (its list of
        sub-accounts or of watcher links), refused to a watcher token with 20002."""
        try:
            return authorize(
                self.grants,
                self.params.get("access_key"),
                self.params.get("puid"),
                write,
                self.host,
                watcher_token=self.params.get("watcher_token"),
                watchers=watchers,
            )
        except Throttled as exc:
            retry = {"Retry-After": str(exc.retry_after_s)}
            raise ApiError(TOO_MANY, str(exc), status=429, headers=retry) from None
        except WatcherDenied as exc:
            raise ApiError(WATCHER_DENIED, str(exc)) from None
        except Denied as exc:
            raise ApiError(NO_PERMISSION, str(exc)) from None
        except ParamError as exc:
            raise ApiError(PARAM_ERROR, str(exc)) from None

    def args(self, model: type[T]) -> T:
        try:
            return convert(self.params, model)
        except ParamError as exc:
            raise ApiError(PARAM_ERROR, str(exc)) from None


async def call(request: Request) -> Call:
    try:
        params = await collect(request)
        lang = language(params.get("lang", ""))
    except ParamError as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None
    for name, header in KEY_HEADERS.items():  # a parameter given wins over its header
        if not params.get(name) and request.headers.get(header):
            params[name] = request.headers[header]
    state = request.app.state
    now = int(state.service.clock.now())
    return Call(state.service, state.grants, params, now, client_host(request), lang)


def language(value: str) -> str:
    """BTC.COM's ``lang``, taken by every endpoint: ``zh-cn`` or ``en`` in any case (``zh_CN``
    too); empty or left out is :data:`DEFAULT_LANG`."""
    if not value:
        return DEFAULT_LANG
    lang = value.strip().lower().replace("_", "-")
    if lang not in LANGUAGES:
        raise ParamError("lang", f"must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return lang


def int_path(name: str, value: str) -> int:
    """A numeric path segment (``/v1/worker/{worker_id}``), checked like a parameter."""
    try:
        return parse_int(name, value)
    except ParamError as exc:
        raise ApiError(PARAM_ERROR, str(exc)) from None


async def _post_only(request: Request) -> Response:
    message = f"method {request.method} is not allowed on {request.url.path}; use POST"
    response = envelope(None, NOT_FOUND, message, status=405)
    response.headers["Allow"] = "POST"
    return response


def envelope_schema(answer: Any) -> dict[str, Any]:
    """``answer``: a Struct, ``list[Struct]`` (an array of it), ``dict[str, Struct]`` (an
    object of them by key) or None (no data)."""
    if answer is None:
        data: dict[str, Any] = {"type": "null"}
    elif typing.get_origin(answer) in (list, dict):
        item = typing.get_args(answer)[-1]
        of = {"$ref": f"#/components/schemas/{item.__name__}"}
        many = (
            {"type": "array", "items": of}
            if typing.get_origin(answer) is list
            else {"type": "object", "additionalProperties": of}
        )
        data = {"anyOf": [many, {"type": "null"}]}
    else:
        data = {"anyOf": [{"$ref": f"#/components/schemas/{answer.__name__}"}, {"type": "null"}]}
    return {
        "type": "object",
        "required": ["err_no", "err_msg", "data"],
        "properties": {
            "err_no": {"type": "integer"},
            "err_msg": {"type": ["string", "null"]},
            "data": data,
        },
    }


def endpoint(
    router: APIRouter,
    method: str,
    path: str,
    *,
    summary: str,
    answer: Any,
    params: type[Any] | None = None,
    auth: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler at ``path`` and ``path/`` (BTC.COM answered both), documented with
    ``params``' fields and the envelope around ``answer``.

    A plain handler takes a :class:`Call` and the path's ``{names}`` as strings; it runs in a
    worker thread (the store blocks) under the app's ``read_slots`` limiter: a couple of
    threads keep both cores busy, while dozens would only fight over the GIL. An ``async``
    handler takes the request and runs on the event loop.
    """
    names = re.findall(r"{(\w+)}", path)
    path_parameters = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    extra = {
        "parameters": path_parameters + openapi_parameters(params, AUTH_PARAMETERS if auth else [])
    }
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The answer, or an error with err_no 1, 20001 or 20002 "
            "(still HTTP 200).",
            "content": {"application/json": {"schema": envelope_schema(answer)}},
        }
    }
    if auth:
        responses[429] = {
            "description": "err_no 429: too many wrong keys from this address lately; the "
            "Retry-After header says when to try again.",
            "content": {"application/json": {"schema": envelope_schema(None)}},
        }

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(handler):
            route = handler
        else:

            async def route(request: Request) -> Response:
                ctx = await call(request)
                work = functools.partial(handler, ctx, **request.path_params)
                answer: Response = await read(request, work)
                return answer

            route.__name__ = handler.__name__
            route.__doc__ = handler.__doc__
        for route_path, listed in ((path, True), (path + "/", False)):
            router.add_api_route(
                route_path,
                route,
                methods=[method],
                summary=summary,
                openapi_extra=extra,
                responses=responses,
                response_class=Response,
                include_in_schema=listed,
            )
            if method == "POST":  # or GET /v1/worker/update would reach /v1/worker/{worker_id}
                router.add_api_route(
                    route_path, _post_only, methods=["GET"], include_in_schema=False
                )
        return handler

    return register
