"""What a contact may hold: strict e-mail addresses, http(s) webhooks with a host."""

from __future__ import annotations

import pytest

from poolstats.domain.alert_contacts import (
    validate_email,
    validate_note,
    validate_webhook_url,
    webhook_target,
)


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("ops@example.com", "ops@example.com"),
        ("Ops.Team+pool@Mail.Example.COM", "Ops.Team+pool@mail.example.com"),
        ("a_b-c@sub-domain.example.io", "a_b-c@sub-domain.example.io"),
    ],
)
def test_email_accepted_with_the_domain_lower_cased(address: str, stored: str) -> None:
    assert validate_email(address) == stored


@pytest.mark.parametrize(
    "address",
    [
        "",
        "ops",
        "ops@",
        "@example.com",
        "ops@localhost",  # one label: not a host name mail can reach
        "ops@example.c0m",
        "ops@-example.com",
        "ops..team@example.com",
        ".ops@example.com",
        "ops@exa mple.com",
        '"ops"@example.com',
        "ops@[127.0.0.1]",
        "ops@example.com\r\nBcc: x@example.com",  # header injection
        "opé@example.com",
        "a" * 65 + "@example.com",
        "ops@" + "a" * 250 + ".com",
    ],
)
def test_email_refused_naming_the_field(address: str) -> None:
    with pytest.raises(ValueError, match=r"^email: "):
        validate_email(address)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/T0/abc?token=x",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:9000/",
        "HTTPS://Example.com",
    ],
)
def test_webhook_url_accepted(url: str) -> None:
    assert validate_webhook_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/hook",
        "https://",
        "https:///path",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://exa mple.com/",
        "http://example.com/\n",
        "https://exämple.com/",
        "https://example.com/" + "a" * 2048,
    ],
)
def test_webhook_url_refused_naming_the_field(url: str) -> None:
    with pytest.raises(ValueError, match=r"^webhook_url: "):
        validate_webhook_url(url)


def test_webhook_target_keeps_tokens_out() -> None:
    assert webhook_target("https://u:p@hooks.example.com/T0/secret?token=x") == (
        "https://hooks.example.com"
    )
    assert webhook_target("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080"
    assert webhook_target("http://[::1]:9000/x") == "http://[::1]:9000"


def test_note_is_short_printable_text() -> None:
    assert validate_note("") == "" and validate_note("Little Tang") == "Little Tang"
    for bad in (" x", "x ", "a\tb", "x" * 65):
        with pytest.raises(ValueError, match=r"^note: "):
            validate_note(bad)
