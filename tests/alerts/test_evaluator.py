"""The evaluator end to end on a real node: shares in, hashrate drops, notices out by real
e-mail (aiosmtpd) and a real webhook; time moves with the node's FakeClock, never a sleep."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from poolstats.alerts.delivery import Delivery
from poolstats.alerts.evaluator import AlertEvaluator
from poolstats.domain.alerts import AlertKind, Event
from poolstats.store.alerts import AlertStore
from tests.alerts.conftest import Mailbox, Receiver
from tests.api.conftest import T0, Node

MIB = 2**20
HOUR = 3600


def rig_shares(node: Node, puid: int = 1, worker: str = "rig1", n: int = 60) -> None:
    """``n`` shares of 2^20 a moment ago: 60 of them make 2^52 / 900 H/s = 300.2 TH/s over
    15 minutes (by hand: 60 * 2^20 * 2^32 / 900)."""
    now = int(node.clock.now())
    share = {"ts": now - 5, "puid": puid, "worker": worker, "diff": MIB, "accepted": True}
    node.ingest(*[share] * n)
    node.service.flush()


def evaluator(node: Node, mailbox: Mailbox, **overrides: Any) -> AlertEvaluator:
    settings = dataclasses.replace(
        node.service.settings,
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_starttls=False,
        smtp_from="pool@example.com",
        alert_retries=1,
        alert_backoff_s=0.0,
        **overrides,
    )
    return AlertEvaluator(
        node.service.store, settings, node.clock, Delivery(settings), node.service.metrics
    )


def later(node: Node, seconds: float) -> int:
    node.clock.advance(seconds)
    node.service.flush()  # what the flush timer does: the windows move with time
    return int(node.clock.now())


@pytest.fixture
def watched(node: Node, mailbox: Mailbox, receiver: Receiver) -> tuple[Node, AlertEvaluator]:
    """alice at 300.2 TH/s with a 100 TH/s alert every 2 hours, one contact with both an
    e-mail address and a webhook."""
    rig_shares(node)
    assert node.api(
        "POST", "/v1/alert/setting/update", interval=2, hashrate=100, unit="T", hashrate_enabled=1
    )["data"] == {"status": True}
    assert (
        node.api(
            "POST",
            "/v1/alert/contacts/create",
            note="ops",
            email="ops@example.com",
            webhook_url=receiver.url,
        )["err_no"]
        == 0
    )
    return node, evaluator(node, mailbox)


def events(notices: list[Any]) -> list[tuple[AlertKind, Event]]:
    return [(n.kind, n.event) for n in notices]


def test_hashrate_drop_fires_on_the_second_check_repeats_per_interval_and_recovers(
    watched: tuple[Node, AlertEvaluator], mailbox: Mailbox, receiver: Receiver
) -> None:
    node, ev = watched
    assert ev.check(int(node.clock.now())) == []  # 300.2 TH/s: above the threshold

    # The rig stops: 16 minutes on, its shares have left the 15-minute window.
    assert ev.check(later(node, 16 * 60)) == []  # first breaching check: nothing yet
    fired_at = later(node, 60)
    [fired] = ev.check(fired_at)
    assert (fired.kind, fired.event, fired.value, fired.threshold, fired.unit) == (
        AlertKind.HASHRATE,
        Event.FIRED,
        "0",
        "100",
        "T",
    )
    assert (
        fired.message == "alice: 15-minute hashrate 0 TH/s, below the alert threshold of 100 TH/s"
    )
    assert ev.check(later(node, 60)) == []  # still low, within the interval
    assert ev.check(later(node, 2 * HOUR - 61)) == []  # 1 s short of 2 hours since the fire
    assert events(ev.check(later(node, 1))) == [(AlertKind.HASHRATE, Event.REPEATED)]

    rig_shares(node)  # back at 300.2 TH/s
    assert ev.check(later(node, 60)) == []  # one clear check is not yet a recovery
    [recovered] = ev.check(later(node, 60))
    assert (recovered.event, recovered.value) == (Event.RECOVERED, "300.2")
    assert ev.check(later(node, 60)) == []

    subjects = [m["Subject"] for _, m in mailbox.messages]
    assert subjects == [
        f"[poolstats] alice: hashrate alert {e}" for e in ("fired", "repeated", "recovered")
    ]
    assert all(rcpt == ["ops@example.com"] for rcpt, _ in mailbox.messages)
    assert [(b["event"], b["value"], b["threshold"], b["unit"]) for b in receiver.bodies] == [
        ("fired", "0", "100", "T"),
        ("repeated", "0", "100", "T"),
        ("recovered", "300.2", "100", "T"),
    ]
    assert receiver.bodies[0]["at"] == fired_at and receiver.bodies[0]["subaccount"] == "alice"

    log = node.data("/v1/alert/get")
    assert [(e["type"], e["event"], e["actual"], e["expect"]) for e in log] == [
        ("hashrate", "recovered", "300.2", "100"),
        ("hashrate", "repeated", "0", "100"),
        ("hashrate", "fired", "0", "100"),
    ]


def test_active_workers_below_threshold_fire_with_the_status_rule(
    node: Node, mailbox: Mailbox
) -> None:
    rig_shares(node, worker="rig1", n=1)
    rig_shares(node, worker="rig2", n=1)
    node.api("POST", "/v1/alert/setting/update", miners=2, miners_enabled=1)
    ev = evaluator(node, mailbox)
    assert ev.check(later(node, 60)) == [] and ev.check(later(node, 60)) == []  # 2 ACTIVE
    # 15 minutes after their last share both are still ACTIVE (age <= active_s) ...
    at = int(node.clock.now())
    assert ev.check(later(node, (int(T0) - 5 + 900) - at)) == []
    # ... one second later neither is: first breach, then the fire
    assert ev.check(later(node, 1)) == []
    [fired] = ev.check(later(node, 60))
    assert (fired.kind, fired.event, fired.value, fired.threshold, fired.unit) == (
        AlertKind.MINERS,
        Event.FIRED,
        "0",
        "2",
        "",
    )
    assert fired.message == "alice: 0 ACTIVE workers, below the alert threshold of 2"
    assert mailbox.messages == []  # no contact: nothing to mail


def test_a_sub_account_without_contacts_still_gets_its_log(node: Node, mailbox: Mailbox) -> None:
    node.api("POST", "/v1/alert/setting/update", hashrate=1, hashrate_enabled=1)
    ev = evaluator(node, mailbox)
    ev.check(later(node, 60))
    assert events(ev.check(later(node, 60))) == [(AlertKind.HASHRATE, Event.FIRED)]
    assert mailbox.messages == []
    assert [e["event"] for e in node.data("/v1/alert/get")] == ["fired"]


def test_failed_delivery_is_logged_naming_the_contact_and_the_error(
    node: Node, mailbox: Mailbox, receiver: Receiver
) -> None:
    receiver.plan = [500] * 10
    node.api("POST", "/v1/alert/setting/update", hashrate=1, hashrate_enabled=1)
    node.api("POST", "/v1/alert/contacts/create", note="hook", webhook_url=receiver.url + "/t0k")
    ev = evaluator(node, mailbox)
    ev.check(later(node, 60))
    ev.check(later(node, 60))
    port = receiver.url.split(":")[2].split("/")[0]
    log = node.data("/v1/alert/get")
    assert [(e["type"], e["event"]) for e in log] == [
        ("delivery", "delivery_failed"),
        ("hashrate", "fired"),
    ]
    assert log[0]["message"] == (
        f"hashrate fired notice to contact 1 (hook) by webhook http://127.0.0.1:{port} failed"
        " after 2 attempts: DeliveryError: HTTP 500"
    )
    assert len(receiver.bodies) == 2  # alert_retries=1: two attempts
    assert node.counter("poolstats_alert_notices_total", event="fired") == 1
    assert node.counter("poolstats_alert_delivery_failures_total", channel="webhook") == 1


def test_disabling_a_firing_alert_clears_it_without_a_notice(node: Node, mailbox: Mailbox) -> None:
    node.api("POST", "/v1/alert/setting/update", hashrate=1, hashrate_enabled=1)
    ev = evaluator(node, mailbox)
    ev.check(later(node, 60))
    assert ev.check(later(node, 60))  # fired
    node.api("POST", "/v1/alert/setting/update", hashrate_enabled=0)
    assert ev.check(later(node, 60)) == [] and ev.check(later(node, 60)) == []
    assert AlertStore(node.service.store).states() == {}


def test_run_checks_in_a_loop_until_cancelled(node: Node, mailbox: Mailbox) -> None:
    node.api("POST", "/v1/alert/setting/update", hashrate=1, hashrate_enabled=1)
    ev = evaluator(node, mailbox, alert_check_s=0.01)
    store = AlertStore(node.service.store)

    async def main() -> None:
        task = asyncio.create_task(ev.run())
        deadline = asyncio.get_running_loop().time() + 10
        while not store.log(1, 0, 1)[1]:  # the second check fires
            assert asyncio.get_running_loop().time() < deadline, "no check fired"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [r["event"] for r in store.log(1, 0, 10)[1]] == ["fired"]
