"""Access keys: made at random, kept only as a hash, compared in constant time.

A store keeps the SHA-256 of each key, never the key, so a leaked database leaks no keys; a
key is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_ACCESS_KEY_BYTES = 24  # 32 URL-safe characters, 192 bits


def new_access_key() -> str:
    """A fresh random access key, to be shown to the user once."""
    return secrets.token_urlsafe(_ACCESS_KEY_BYTES)


def hash_access_key(access_key: str) -> str:
    """SHA-256 hex of the key: what the database keeps (a leak of it does not leak keys)."""
    return hashlib.sha256(access_key.encode()).hexdigest()


def key_hash_matches(stored_hash: str, access_key: str) -> bool:
    """Constant-time comparison, so response timing says nothing about the stored hash."""
    return hmac.compare_digest(stored_hash, hash_access_key(access_key))
