"""What an alert contact may hold: the one place its rules live, so the API and the store agree.

No e-mail library is a dependency, so addresses get a strict check of their own rather than
RFC 5322's full grammar: ASCII only, a dot-atom local part and a host name of letter-digit-
hyphen labels with an alphabetic top-level label. That refuses quoted local parts, IP-literal
domains and internationalised addresses, all rare for alert mail and all easy to get wrong;
and it can never let a line break into a mail header.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

NOTE_MAX = 64
EMAIL_MAX = 254  # RFC 5321's path limit less the angle brackets
WEBHOOK_URL_MAX = 2048
CONTACTS_MAX = 10  # per sub-account: enough for a team, bounded work per notice

_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD_RE = re.compile(r"[A-Za-z]{2,63}")


def validate_note(note: str) -> str:
    """A contact's name: printable, no surrounding spaces, at most ``NOTE_MAX`` characters."""
    if len(note) > NOTE_MAX:
        raise ValueError(f"note: at most {NOTE_MAX} characters")
    if not note.isprintable() or note != note.strip():
        raise ValueError("note: no control characters or surrounding spaces allowed")
    return note


def validate_email(address: str) -> str:
    """An e-mail address as stored (the domain lower-cased); ``ValueError`` naming ``email``."""
    if len(address) > EMAIL_MAX or not address.isascii():
        raise ValueError(f"email: an ASCII address of at most {EMAIL_MAX} characters")
    local, at, domain = address.rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL_RE.fullmatch(local):
        raise ValueError(f"email: not an address like name@example.com: {address!r}")
    labels = domain.split(".")
    if (
        len(labels) < 2
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or not _TLD_RE.fullmatch(labels[-1])
    ):
        raise ValueError(f"email: {domain!r} is not a host name like example.com")
    return f"{local}@{domain.lower()}"


def validate_webhook_url(url: str) -> str:
    """An http(s) URL with a host, without spaces or control characters; ``ValueError``
    naming ``webhook_url``. Any host is allowed (see docs/alerts.md on reachability)."""
    if len(url) > WEBHOOK_URL_MAX:
        raise ValueError(f"webhook_url: at most {WEBHOOK_URL_MAX} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise ValueError("webhook_url: ASCII without spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port out of range or not a number
    except ValueError:
        raise ValueError(f"webhook_url: not a valid URL: {url!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("webhook_url: must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("webhook_url: has no host")
    if port == 0:
        raise ValueError("webhook_url: port 0 is not a port")
    return url


def webhook_target(url: str) -> str:
    """The URL without credentials, path or query, for messages: a token in the path or query
    of a stored webhook must not reach the alert log or the server's log."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
