"""Watcher links: a token that lets whoever holds it read one sub-account, and nothing else.

BTC.COM called them observers (``watcher_key`` in its lists, ``watcher_token`` in the query
string of a shared link). A token is a secret like an access key: made at random, stored
only as its SHA-256 (``access_keys.hash_access_key``), compared in constant time, shown once
when it is made. What the owner sees of it afterwards is :func:`shown_token`, a prefix that
tells the links apart without opening any of them.
"""

from __future__ import annotations

import secrets

WATCHER_PREFIX = "r_"  # BTC.COM's observer keys began so ("r_1234567891234")
_TOKEN_BYTES = 24  # 32 URL-safe characters after the prefix, 192 bits
SHOWN_CHARS = 8  # the prefix and 6 random characters: 36 bits shown, 156 kept secret
MASK = "***"
NOTE_MIN, NOTE_MAX = 2, 20  # BTC.COM's "remarks of 2-20 length", in characters
MAX_WATCHERS_PER_SUBACCOUNT = 100  # links are for people; a bound keeps the table small
MAX_TOKENS_PER_LOOKUP = 20  # others-list: tokens looked up in one request


def new_watcher_token() -> str:
    """A fresh random watcher token, to be shown to its owner once."""
    return WATCHER_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def token_prefix(token: str) -> str:
    """The part of a token kept in clear beside its hash (see the module docstring)."""
    return token[:SHOWN_CHARS]


def shown_token(prefix: str) -> str:
    """How a stored token is listed: its prefix and a mask, ``r_AbC123***``."""
    return prefix + MASK


def validate_note(note: str) -> str:
    """The note, stripped, if it has 2 to 20 characters; else ``ValueError`` naming ``note``."""
    text = note.strip()
    if not NOTE_MIN <= len(text) <= NOTE_MAX:
        raise ValueError(f"note: from {NOTE_MIN} to {NOTE_MAX} characters, got {len(text)}")
    if any(not c.isprintable() for c in text):
        raise ValueError("note: only printable characters")
    return text


def split_tokens(text: str) -> list[str]:
    """``watcher_token``'s comma-separated tokens (others-list), blanks dropped, each once,
    in the order given; ``ValueError`` naming ``watcher_token`` if none or too many."""
    tokens = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not tokens:
        raise ValueError("watcher_token: missing")
    if len(tokens) > MAX_TOKENS_PER_LOOKUP:
        raise ValueError(
            f"watcher_token: at most {MAX_TOKENS_PER_LOOKUP} tokens, got {len(tokens)}"
        )
    return tokens
