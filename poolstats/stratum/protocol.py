"""Stratum V1's wire format: one JSON-RPC object per line, both ways.

Decoding is strict about the envelope (an object with a string ``method`` and a ``params``
array) and loose about ids (miners send numbers, strings or null, and some repeat one id on
every submit: replies echo whatever came). Anything else is a ``ProtocolError`` whose message
says what was wrong; the session answers it and counts it toward a ban, never crashes.
"""

from __future__ import annotations

from typing import Any

import msgspec

Id = int | str | None


class ProtocolError(Exception):
    pass


class Request(msgspec.Struct, forbid_unknown_fields=False):
    method: str
    params: list[Any] = msgspec.field(default_factory=list)
    id: int | str | None = None


_decoder = msgspec.json.Decoder(Request)
_encoder = msgspec.json.Encoder()


def decode(line: bytes) -> Request:
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"not a stratum request: {exc}") from None
    except msgspec.DecodeError:
        raise ProtocolError("not JSON") from None


def result(id: Id, value: Any) -> bytes:
    return _encoder.encode({"id": id, "result": value, "error": None}) + b"\n"


def error(id: Id, code: int, message: str) -> bytes:
    return _encoder.encode({"id": id, "result": None, "error": [code, message, None]}) + b"\n"


def notify(method: str, params: list[Any]) -> bytes:
    return _encoder.encode({"id": None, "method": method, "params": params}) + b"\n"
