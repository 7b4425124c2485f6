"""The Tangpool dialect: every endpoint of Tangpool's published pool API (its hashrate, pool
and earnings documents), one module each, in Tangpool's paths, shapes, key and error form
(``common``). docs/api.md lists the choices made where its documents are silent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from poolstats.api.tangpool import pool, profit, share
from poolstats.api.tangpool.common import (
    ANSWERS,
    TangpoolError,
    answer_schemas,
    error_response,
    on_tangpool_error,
    owns,
)
from poolstats.api.tangpool.share import PATH

router = APIRouter()
router.include_router(share.router)
router.include_router(pool.router)
router.include_router(profit.router)


def openapi_components() -> dict[str, Any]:
    """JSON schemas of the answers, for the OpenAPI document's ``components/schemas``."""
    _, components = answer_schemas(tuple(ANSWERS))
    return components


__all__ = [
    "PATH",
    "TangpoolError",
    "error_response",
    "on_tangpool_error",
    "openapi_components",
    "owns",
    "router",
]
