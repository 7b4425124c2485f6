"""Delivery against real receivers on loopback: mail through an aiosmtpd server, webhooks
to a local HTTP server; retries with exponential backoff, and failures that say why."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from poolstats.alerts.delivery import Delivery, Failure, Notice
from poolstats.config import Settings
from poolstats.domain.alerts import AlertKind, Event
from tests.alerts.conftest import SMTP_PASSWORD, SMTP_USER, Mailbox, Receiver
from tests.nodes import free_port

AT = 1_700_000_000  # 2023-11-14 22:13:20 UTC
NOTICE = Notice(
    puid=1,
    subaccount="alice",
    kind=AlertKind.HASHRATE,
    event=Event.FIRED,
    value="7.000",
    threshold="10",
    unit="T",
    interval=6,
    at=AT,
    message="alice: 15-minute hashrate 7.000 TH/s, below the alert threshold of 10 TH/s",
)


def settings(mailbox: Mailbox | None = None, **overrides: Any) -> Settings:
    base = Settings(
        smtp_host=mailbox.host if mailbox else "",
        smtp_port=mailbox.port if mailbox else 25,
        smtp_starttls=False,
        smtp_from="pool@example.com",
        smtp_timeout_s=5.0,
        webhook_timeout_s=5.0,
        alert_retries=3,
        alert_backoff_s=2.0,
    )
    return dataclasses.replace(base, **overrides)


class Sleeps(list[float]):
    """An injected ``sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def contact(**fields: Any) -> dict[str, Any]:
    return {"id": 7, "note": "ops", "email": None, "webhook_url": None, **fields}


def test_email_reaches_the_smtp_server_with_the_figures(mailbox: Mailbox) -> None:
    delivery = Delivery(settings(mailbox))
    assert delivery.send(NOTICE, contact(email="ops@example.com")) == []
    [(rcpt, message)] = mailbox.messages
    assert rcpt == ["ops@example.com"]
    assert message["From"] == "pool@example.com" and message["To"] == "ops@example.com"
    assert message["Subject"] == "[poolstats] alice: hashrate alert fired"
    body = message.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert body.startswith(NOTICE.message + "\n")
    for line in (
        "sub-account: alice (puid 1)",
        "measured: 7.000 TH/s",
        "threshold: 10 TH/s",
        "at: 2023-11-14 22:13:20 UTC",
        "reminders: every 6 hours while it lasts",
    ):
        assert line in body


def test_email_logs_in_when_a_user_is_set(mailbox: Mailbox) -> None:
    s = settings(mailbox, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD)
    assert Delivery(s).send(NOTICE, contact(email="ops@example.com")) == []
    assert mailbox.logins == [SMTP_USER] and len(mailbox.messages) == 1


def test_refused_login_fails_and_nothing_is_sent(mailbox: Mailbox) -> None:
    s = settings(
        mailbox, smtp_user=SMTP_USER, smtp_password="wrong", smtp_timeout_s=1.0, alert_retries=0
    )
    [failure] = Delivery(s).send(NOTICE, contact(email="ops@example.com"))
    # aiosmtpd answers a failed login late (against guessing): refused or timed out
    assert failure.error.startswith(("SMTPAuthenticationError", "SMTPServerDisconnected"))
    assert (failure.attempts, mailbox.messages, mailbox.logins) == (1, [], [])


def test_the_password_never_reaches_an_error_text(mailbox: Mailbox) -> None:
    mailbox.refuse_rcpt = f"550 user unknown (your password is {SMTP_PASSWORD})"
    s = settings(mailbox, smtp_user=SMTP_USER, smtp_password=SMTP_PASSWORD, alert_retries=0)
    [failure] = Delivery(s).send(NOTICE, contact(email="ops@example.com"))
    assert "SMTPRecipientsRefused" in failure.error and "your password is ***" in failure.error
    assert SMTP_PASSWORD not in failure.error and mailbox.logins == [SMTP_USER]


def test_webhook_gets_the_documented_json(receiver: Receiver) -> None:
    delivery = Delivery(settings())
    assert delivery.send(NOTICE, contact(webhook_url=receiver.url)) == []
    assert receiver.bodies == [
        {
            "puid": 1,
            "subaccount": "alice",
            "kind": "hashrate",
            "event": "fired",
            "value": "7.000",
            "threshold": "10",
            "unit": "T",
            "interval": 6,
            "at": AT,
            "message": NOTICE.message,
        }
    ]
    assert receiver.headers[0]["Content-Type"] == "application/json"


def test_webhook_failing_twice_is_retried_with_doubling_waits(receiver: Receiver) -> None:
    receiver.plan = [500, 503]
    sleeps = Sleeps()
    assert Delivery(settings(), sleep=sleeps).send(NOTICE, contact(webhook_url=receiver.url)) == []
    assert len(receiver.bodies) == 3 and sleeps == [2.0, 4.0]


def test_webhook_always_failing_gives_up_after_the_retries(receiver: Receiver) -> None:
    receiver.plan = [500] * 10
    sleeps = Sleeps()
    url = receiver.url + "/T0K3N?secret=1"
    failures = Delivery(settings(), sleep=sleeps).send(NOTICE, contact(webhook_url=url))
    port = url.split(":")[2].split("/")[0]
    assert failures == [
        Failure(7, "ops", "webhook", f"http://127.0.0.1:{port}", 4, "DeliveryError: HTTP 500")
    ]
    assert len(receiver.bodies) == 4 and sleeps == [2.0, 4.0, 8.0]


def test_webhook_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.plan = [302] * 4
    failures = Delivery(settings(), sleep=Sleeps()).send(NOTICE, contact(webhook_url=receiver.url))
    assert [f.error for f in failures] == ["DeliveryError: HTTP 302 (redirects are not followed)"]
    assert len(receiver.bodies) == 4  # never the redirect's target: only the 4 attempts


def test_unreachable_receivers_fail_after_every_attempt() -> None:
    dead = free_port()  # nothing listens there
    s = settings(smtp_host="127.0.0.1", smtp_port=dead, alert_retries=1)
    both = contact(email="ops@example.com", webhook_url=f"http://127.0.0.1:{dead}/hook")
    failures = Delivery(s, sleep=Sleeps()).send(NOTICE, both)
    assert [(f.channel, f.attempts) for f in failures] == [("email", 2), ("webhook", 2)]
    assert "ConnectionRefusedError" in failures[0].error
    assert "ConnectError" in failures[1].error


def test_email_without_an_smtp_server_configured_fails_at_once() -> None:
    sleeps = Sleeps()
    [failure] = Delivery(settings(), sleep=sleeps).send(NOTICE, contact(email="a@example.com"))
    assert (failure.attempts, failure.error, sleeps) == (0, "no smtp_host is configured", [])


@pytest.mark.parametrize("retries", [0, 1])
def test_retries_setting_bounds_the_attempts(receiver: Receiver, retries: int) -> None:
    receiver.plan = [500] * 5
    d = Delivery(settings(alert_retries=retries), sleep=Sleeps())
    [failure] = d.send(NOTICE, contact(webhook_url=receiver.url))
    assert failure.attempts == retries + 1 == len(receiver.bodies)
