"""Delivering alert notices: e-mail over SMTP and a JSON POST to a webhook, with retries.

Why it is built this way:
- Each channel of each contact is tried ``1 + alert_retries`` times, waiting
  ``alert_backoff_s * 2**n`` before retry n+1, so a receiver that is briefly down still gets
  the notice while a dead one costs a bounded time. ``sleep`` is injected: tests check the
  schedule without waiting for it.
- Delivery is synchronous (``smtplib``, ``httpx.Client``); the evaluator runs it in worker
  threads, never on the event loop.
- Webhooks never follow redirects (a 3xx is a failure): a receiver cannot bounce the POST
  to another host. Any host the server can reach is allowed; operators who must fence that
  in route the server's egress through a proxy (``HTTPS_PROXY``, which httpx honours).
- Error texts are scrubbed of the SMTP password and name a webhook by its scheme, host and
  port only, since its path or query often carries a token.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from poolstats.config import Settings
from poolstats.domain.alert_contacts import webhook_target
from poolstats.domain.alerts import AlertKind, Event

ERROR_MAX = 300  # characters of an error kept in the alert log


@dataclass(frozen=True)
class Notice:
    """One alert notice: what the log records and every contact is told.

    ``value`` and ``threshold`` are texts in ``unit`` (hashrate: the threshold's unit, four
    significant digits; miners: counts, unit ''); ``interval`` in hours; ``at`` unix seconds.
    """

    puid: int
    subaccount: str
    kind: AlertKind
    event: Event
    value: str
    threshold: str
    unit: str
    interval: int
    at: int
    message: str

    def webhook_body(self) -> dict[str, Any]:
        """The JSON a webhook receives (docs/alerts.md)."""
        return {
            "puid": self.puid,
            "subaccount": self.subaccount,
            "kind": self.kind.value,
            "event": self.event.value,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "interval": self.interval,
            "at": self.at,
            "message": self.message,
        }


@dataclass(frozen=True)
class Failure:
    """A channel of a contact that did not take the notice after every attempt."""

    contact_id: int
    note: str
    channel: str  # "email" or "webhook"
    target: str  # the address, or the webhook's scheme://host[:port]
    attempts: int
    error: str


class DeliveryError(Exception):
    """A receiver refused the notice (an HTTP status outside 2xx, no SMTP server)."""


class Delivery:
    """Sends notices to contacts; one instance serves many threads (httpx's client is safe
    to share)."""

    def __init__(
        self,
        settings: Settings,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._client = client or httpx.Client(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            headers={"User-Agent": "poolstats-alerts"},
        )

    def close(self) -> None:
        self._client.close()

    def send(self, notice: Notice, contact: dict[str, Any]) -> list[Failure]:
        """Every channel of ``contact``; the ones that failed for good."""
        failures = []
        channels: list[tuple[str, str, Callable[[], None]]] = []
        if contact.get("email"):
            address = str(contact["email"])
            channels.append(("email", address, lambda: self.email(notice, address)))
        if contact.get("webhook_url"):
            url = str(contact["webhook_url"])
            channels.append(("webhook", webhook_target(url), lambda: self.webhook(notice, url)))
        for channel, target, attempt in channels:
            attempts, error = self._with_retries(attempt, channel == "email")
            if error is not None:
                failures.append(
                    Failure(
                        int(contact["id"]), str(contact["note"]), channel, target, attempts, error
                    )
                )
        return failures

    def email(self, notice: Notice, address: str) -> None:
        """One SMTP conversation; raises on any failure."""
        s = self._settings
        message = EmailMessage()
        message["From"] = s.smtp_from
        message["To"] = address
        message["Subject"] = (
            f"[poolstats] {notice.subaccount}: {notice.kind.value} alert {notice.event.value}"
        )
        message.set_content(email_text(notice))
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(message)

    def webhook(self, notice: Notice, url: str) -> None:
        """One POST; raises unless the answer is 2xx."""
        response = self._client.post(url, json=notice.webhook_body())
        if not response.is_success:
            hint = " (redirects are not followed)" if response.is_redirect else ""
            raise DeliveryError(f"HTTP {response.status_code}{hint}")

    def _with_retries(self, attempt: Callable[[], None], is_email: bool) -> tuple[int, str | None]:
        """(attempts made, the last error or None on success)."""
        if is_email and not self._settings.smtp_host:
            return 0, "no smtp_host is configured"
        tries = 1 + max(self._settings.alert_retries, 0)
        error = ""
        for n in range(tries):
            if n:
                self._sleep(self._settings.alert_backoff_s * 2 ** (n - 1))
            try:
                attempt()
                return n + 1, None
            except Exception as exc:  # any failure of a receiver is retried, then logged
                error = self._scrub(f"{type(exc).__name__}: {exc}")
        return tries, error

    def _scrub(self, text: str) -> str:
        password = self._settings.smtp_password
        if password:
            text = text.replace(password, "***")
        return text[:ERROR_MAX]


def email_text(notice: Notice) -> str:
    """The plain-text body of an alert e-mail: the message and the figures behind it."""
    unit = f" {unit_label(notice.unit)}" if notice.kind is AlertKind.HASHRATE else ""
    return (
        f"{notice.message}\n\n"
        f"sub-account: {notice.subaccount} (puid {notice.puid})\n"
        f"alert: {notice.kind.value}, {notice.event.value}\n"
        f"measured: {notice.value}{unit}\n"
        f"threshold: {notice.threshold}{unit}\n"
        f"at: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(notice.at))}\n"
        f"reminders: every {notice.interval} hours while it lasts\n"
    )


def unit_label(unit: str) -> str:
    """ "T" -> "TH/s", "H" -> "H/s"."""
    return "H/s" if unit in ("", "H") else f"{unit}H/s"
