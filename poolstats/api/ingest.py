"""``POST /ingest/shares``: producers' share batches in, acknowledged once journaled; and
``GET /ingest/users/{name}``: a sub-account's puid, for a stratum process apart from its node
(it authorizes miners by name and sends shares by puid)."""

from __future__ import annotations

import hmac
import logging
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from poolstats.api.auth import Throttled, client_host
from poolstats.api.threads import read
from poolstats.bus.base import BusUnavailable
from poolstats.clock import Clock
from poolstats.config import Settings
from poolstats.domain.accounts import validate_user_name
from poolstats.ingest.columnar import CONTENT_TYPES, BatchError
from poolstats.ingest.idempotency import valid_key
from poolstats.ingest.journal import JournalError
from poolstats.ingest.pipeline import Format, IngestResult
from poolstats.metrics import Metrics


class Names(Protocol):
    def puid_of(self, name: str) -> int | None: ...


class IngestNode(Protocol):
    """What these routes need of the process they run in: a node (``Service``, which journals
    and counts) or a gateway (``cluster.gateway.GatewayNode``, which publishes to the bus)."""

    settings: Settings
    metrics: Metrics
    clock: Clock
    registry: Names

    async def ingest(self, body: bytes, fmt: Format, key: str = "") -> IngestResult: ...


router = APIRouter()  # what every process serves: GET /ingest/users/{name}
shares_router = APIRouter()  # POST /ingest/shares on a node that takes shares
elsewhere_router = APIRouter()  # POST /ingest/shares on one that does not (poolstats api)
log = logging.getLogger(__name__)
INGEST_SLOTS = 4  # batches in memory at once: 4 x max_body_bytes at the most
NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/json",
        "text/plain",
        "",
    }
)


def _refuse(
    service: IngestNode,
    status: int,
    reason: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    service.metrics.requests_refused.labels(reason).inc()
    body = {
        "accepted": 0,
        "refused": 0,
        "rejected": 0,  # deprecated alias of "refused" (see IngestResult.as_json)
        "errors": [{"line": 0, "error": message}],
    }
    return JSONResponse(body, status_code=status, headers=headers)


TOKEN_REQUIRED = "Authorization: a valid Bearer ingest token is required"


def _token_refusal(request: Request) -> tuple[int, str, str, dict[str, str]] | None:
    """None when the request carries the ingest token; else (status, reason, message,
    headers): 429 while its client is throttled for wrong tokens (checked before the token,
    so a guess gains nothing then), 401 for a missing or wrong token (a wrong one counts)."""
    header = request.headers.get("authorization")
    token = request.app.state.service.settings.ingest_token
    if not header:  # no token tried: nothing to count
        return 401, "unauthorized", TOKEN_REQUIRED, {"WWW-Authenticate": "Bearer"}
    try:
        with request.app.state.token_guard.attempt(client_host(request)) as attempt:
            attempt.wrong = not authorized(header, token)
    except Throttled as exc:
        return 429, "throttled", str(exc), {"Retry-After": str(exc.retry_after_s)}
    if not attempt.wrong:
        return None
    return 401, "unauthorized", TOKEN_REQUIRED, {"WWW-Authenticate": "Bearer"}


def authorized(header: str | None, token: str) -> bool:
    """Constant-time check of ``Authorization: Bearer <token>``; an empty token opens nothing."""
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    given_bytes, token_bytes = given.strip().encode(), token.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given_bytes, token_bytes)


@shares_router.post(
    "/ingest/shares",
    summary="Ingest a batch of share events (NDJSON or columnar msgpack)",
    responses={
        401: {"description": "bad or missing ingest token"},
        413: {"description": "body too large"},
        429: {"description": "too many wrong tokens from this address lately; see Retry-After"},
        503: {
            "description": "the journal (or a gateway's share bus) cannot store the batch; "
            "retry later"
        },
    },
)
async def ingest_shares(request: Request) -> JSONResponse:
    service: IngestNode = request.app.state.service
    if refusal := _token_refusal(request):
        return _refuse(service, *refusal)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in CONTENT_TYPES:
        fmt = Format.COLUMNAR
    elif content_type in NDJSON_TYPES:
        fmt = Format.NDJSON
    else:
        return _refuse(
            service,
            415,
            "content_type",
            f"Content-Type: {content_type!r} is not application/x-ndjson or "
            "application/vnd.poolstats.shares+msgpack",
        )
    limit = service.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _refuse(service, 413, "too_large", f"body: larger than {limit} bytes")
    key = request.headers.get("idempotency-key", "")
    if key and not valid_key(key):
        return _refuse(
            service, 400, "idempotency_key", "Idempotency-Key: 1 to 128 printable ASCII characters"
        )
    # Bodies are read and processed a few at a time: memory stays bounded however many
    # producers post at once (the others wait on their open connection: backpressure).
    async with request.app.state.ingest_slots:
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > limit:
                return _refuse(service, 413, "too_large", f"body: larger than {limit} bytes")
        body = bytes(chunks)
        try:
            # CPU work and the journal's fsync (or the bus's acknowledgement on a gateway),
            # bounded by the ingest slots, not a store read
            result = await service.ingest(body, fmt, key)
        except BatchError as exc:
            return _refuse(service, 400, "unreadable", str(exc))
        except BusUnavailable as exc:  # a gateway: nothing was acknowledged, retry the batch
            log.error("ingest refused, the share bus cannot take it: %s", exc)
            return _refuse(service, 503, "bus", f"share bus: cannot store the batch ({exc})")
        except (JournalError, OSError) as exc:  # disk full, journal failed: nothing was counted
            log.error("ingest refused, the journal cannot take it: %s", exc)
            return _refuse(service, 503, "journal", f"journal: cannot store the batch ({exc})")
    if result.replayed:  # counted the first time; metrics too
        return JSONResponse(result.as_json(), headers={"Idempotent-Replayed": "true"})
    metrics = service.metrics
    metrics.ingest_bytes.inc(len(body))
    metrics.shares_accepted.labels(fmt.name.lower()).inc(result.accepted)
    for field, count in result.reasons.items():
        metrics.shares_refused.labels(field).inc(count)
    if result.accepted:
        metrics.journal_seq.set(result.seq)
        metrics.share_lag.set(service.clock.now() - result.newest_ts)
    return JSONResponse(result.as_json())


@router.get(
    "/ingest/users/{name}",
    summary="The puid of a sub-account name (for a separate stratum process)",
    responses={
        400: {"description": "not a possible sub-account name"},
        401: {"description": "bad or missing ingest token"},
        404: {"description": "no sub-account of that name"},
        429: {"description": "too many wrong tokens from this address lately; see Retry-After"},
    },
)
async def ingest_user(name: str, request: Request) -> JSONResponse:
    service: IngestNode = request.app.state.service
    if refusal := _token_refusal(request):
        status, reason, message, headers = refusal
        service.metrics.requests_refused.labels(reason).inc()
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    try:
        validate_user_name(name)
    except ValueError as exc:
        return JSONResponse({"error": f"name: {exc}"}, status_code=400)
    # The registry remembers known names and, briefly, unknown ones: a store read at most.
    puid = await read(request, service.registry.puid_of, name)
    if puid is None:
        return JSONResponse({"error": f"name: no sub-account named {name!r}"}, status_code=404)
    return JSONResponse({"puid": puid})


SHARES_ELSEWHERE = (
    "this is an API process (poolstats api): it reads the store and takes no shares; "
    "send them to a gateway (poolstats gateway) or a node (poolstats serve)"
)


@elsewhere_router.post(
    "/ingest/shares",
    summary="Not here: an API process takes no shares",
    responses={404: {"description": "always: send shares to a gateway"}},
)
async def shares_elsewhere(request: Request) -> JSONResponse:
    """404 with the shape of an ingest answer, so a producer pointed at the wrong process
    logs why nothing was accepted."""
    return _refuse(request.app.state.service, 404, "not_a_gateway", SHARES_ELSEWHERE)
