"""The field a msgspec error is about, so that every decoder's refusals read "field: problem".

msgspec says where a value failed as a path at the end of its message ("Expected `int`, got
`str` - at `$.ts[3]`") or names a missing field ("Object missing required field `ts`"). The
refusals poolstats gives (the API's err_msg, ingest's per-line errors, a node's template
refused) lead with the field instead, because that is what a client acts on; the problem after
it is msgspec's own words and may change with its version, so nothing relies on them.
"""

from __future__ import annotations

import re

_AT_PATH = re.compile(r"^(?P<problem>.*) - at `\$(?:\[\d+\])?\.?(?P<path>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_FIRST_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def field_problem(exc: Exception) -> tuple[str | None, str]:
    """(the top-level field named, the problem); the field is None when none is named.

    The field is the path's first name (``ts`` for ``$.ts[3]``, ``transactions`` for
    ``$.transactions[1].txid``): the name a client sent, not an index into it.
    """
    text = str(exc)
    if match := _AT_PATH.match(text):
        name = _FIRST_NAME.match(match.group("path"))
        return (name.group(0) if name else None), match.group("problem")
    if match := _MISSING.match(text):
        return match.group("field"), "is required"
    return None, text
