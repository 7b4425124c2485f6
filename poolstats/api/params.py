"""Request parameters as both dialects take them: from the query string, a form or a JSON
body, checked against one ``msgspec.Struct`` per endpoint.

The same Struct documents the endpoint: :func:`openapi_parameters` turns it into the OpenAPI
parameter list, so the docs and the validation cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl

import msgspec
from fastapi import Request

from poolstats.domain.field_error import field_problem

MAX_BODY_BYTES = 64 * 1024  # parameters only: a bigger body is a mistake, not a request

T = TypeVar("T")


class ParamError(ValueError):
    """A parameter is missing or wrong; ``str(exc)`` starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


async def collect(request: Request) -> dict[str, str]:
    """Query parameters, overridden by a form or JSON body's (all as strings).

    Parameters are flat: a JSON value that is an object or an array, and a form or query
    name written ``name[...]`` (the way some clients nest forms), are refused naming the
    field, however deep they go, and nothing nested is ever built."""
    params = _flat(parse_qsl(request.url.query, keep_blank_values=True))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:  # refused before any is read
        raise ParamError("body", f"larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ParamError("body", f"larger than {MAX_BODY_BYTES} bytes")
    if not body:
        return params
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        params.update(_json_object(bytes(body)))
    elif media in ("application/x-www-form-urlencoded", ""):
        try:
            params.update(_flat(parse_qsl(body.decode(), keep_blank_values=True)))
        except UnicodeDecodeError:
            raise ParamError("body", "a form body must be UTF-8") from None
    else:
        raise ParamError(
            "body", f"content type {media!r} is not form-urlencoded or application/json"
        )
    return params


def _flat(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Form or query pairs as parameters; a name with brackets (``a[b][c]``, ``a[]``) is
    refused, naming the part before them: nothing here takes nested or repeated values, and
    taking the pair as an unknown name would drop the caller's value silently."""
    for name, _ in pairs:
        if "[" in name:
            field = name.split("[", 1)[0] or "parameters"
            raise ParamError(field, "must be a single value, not nested (name[...])")
    return dict(pairs)


_FLAT_JSON = msgspec.json.Decoder(dict[str, str | int | float | bool | None])
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:]')  # strings and structure, not values


def _json_object(body: bytes) -> dict[str, str]:
    """A JSON body's members as parameters. The decoder is told the shape (one object of
    scalars), so it stops at the first object or array value instead of building it: a body
    nested thousands deep costs no more than a flat one and never exhausts the stack."""
    try:
        decoded = _FLAT_JSON.decode(body)
    except msgspec.ValidationError:
        if not body.lstrip().startswith(b"{"):
            raise ParamError("body", "a JSON body must be an object") from None
        raise ParamError(_nested_member(body), "must be a string or a number") from None
    except msgspec.DecodeError as exc:
        raise ParamError("body", f"not valid JSON ({exc})") from None
    return {key: _as_text(value) for key, value in decoded.items()}


def _nested_member(body: bytes) -> str:
    """The name of the first member whose value is an object or an array, found by a flat
    scan of strings and brackets (no recursion, however deep the value goes); ``body`` if
    none is found."""
    depth, last, key = 0, b"", None
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            if depth == 1 and key is not None:
                try:
                    return str(msgspec.json.decode(key, type=str))
                except msgspec.DecodeError:
                    break
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
        elif token == b":" and depth == 1 and last.startswith(b'"'):
            key = last
        last = token
    return "body"


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # a flag's words; never taken for a number
        return "true" if value else "false"
    return str(value)


_INTEGER = re.compile(r"-?[0-9]{1,19}")


def parse_int(field: str, text: str) -> int:
    """A signed 64-bit decimal integer written with ASCII digits only: ``int()`` would also
    take " 1 ", "0_1", full-width and Arabic-Indic digits, all of them mistakes here."""
    if not _INTEGER.fullmatch(text):
        raise ParamError(field, "must be an integer")
    number = int(text)
    if not -(2**63) <= number < 2**63:
        raise ParamError(field, "out of range")
    return number


def convert(params: dict[str, str], model: type[T]) -> T:
    """``params`` checked into ``model``; a :class:`ParamError` naming the field otherwise.

    Flags (``bool`` fields) follow BTC.COM's ``real_point``: present means true unless the
    value is ``0`` or ``false``.
    """
    values: dict[str, Any] = dict(params)
    bools, ints = _typed_fields(cast(Hashable, model))
    for name in bools:
        if name in values:
            values[name] = values[name].strip().lower() not in ("0", "false")
    for name in ints:  # msgspec alone would take "1e3", "1.0" and "null" for numbers
        if name in values:
            values[name] = parse_int(name, values[name])
    try:
        return msgspec.convert(values, model, strict=False)
    except msgspec.ValidationError as exc:
        field, problem = field_problem(exc)
        raise ParamError(field or "parameters", problem) from None


@functools.cache
def _typed_fields(model: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of ``model``'s flag fields and of its integer fields (``int``, ``int | None``
    and integer ``Literal``s)."""
    info = msgspec.inspect.type_info(model)
    if not isinstance(info, msgspec.inspect.StructType):
        return (), ()
    bools, ints = [], []
    for f in info.fields:
        kind = f.type.type if isinstance(f.type, msgspec.inspect.Metadata) else f.type
        kinds = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
        kinds = tuple(k.type if isinstance(k, msgspec.inspect.Metadata) else k for k in kinds)
        if any(isinstance(k, msgspec.inspect.BoolType) for k in kinds):
            bools.append(f.name)
        elif any(
            isinstance(k, msgspec.inspect.IntType)
            or (isinstance(k, msgspec.inspect.LiteralType) and isinstance(k.values[0], int))
            for k in kinds
        ):
            ints.append(f.name)
    return tuple(bools), tuple(ints)


def openapi_parameters(
    model: type[Any] | None, extra: list[dict[str, Any]] | None = None, where: str = "query"
) -> list[dict[str, Any]]:
    """The OpenAPI ``parameters`` of ``model``'s fields (``extra`` first)."""
    out = list(extra or [])
    if model is None:
        return out
    schema = msgspec.json.schema(model)
    ref = schema["$ref"].rsplit("/", 1)[-1]
    body = schema["$defs"][ref]
    required = set(body.get("required", []))
    for name, prop in body["properties"].items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        out.append({"name": name, "in": where, "required": name in required, "schema": prop})
    return out
