"""Alert settings, contacts, the alert log and the evaluator's state, on the SQLite store.

Every query of a sub-account's data filters by its puid, so a key only ever sees and changes
its own sub-account's contacts and log. Writes go through the store's single writer
(``write()``: one ``BEGIN IMMEDIATE`` transaction each); reads use its snapshot readers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from poolstats.domain.alert_contacts import (
    CONTACTS_MAX,
    validate_email,
    validate_note,
    validate_webhook_url,
)
from poolstats.domain.alerts import (
    HASHRATE_UNIT_DEFAULT,
    HASHRATE_UNITS,
    IDLE,
    INTERVAL_DEFAULT_H,
    MINERS_MAX,
    AlertKind,
    AlertState,
    interval_s,
    parse_threshold,
)
from poolstats.store import schema
from poolstats.store.ports.unit_of_work import UnitOfWork

_s, _c, _l, _st = schema.alert_settings, schema.alert_contacts, schema.alert_log, schema.alert_state


@dataclass(frozen=True)
class AlertConfig:
    """A sub-account's alert settings, named as ``POST /v1/alert/setting/update`` takes them:
    ``interval`` in hours, ``hashrate`` a decimal text in ``unit``, ``miners`` ACTIVE workers."""

    interval: int = INTERVAL_DEFAULT_H
    hashrate: str = "0"
    unit: str = HASHRATE_UNIT_DEFAULT
    hashrate_enabled: bool = False
    miners: int = 0
    miners_enabled: bool = False


NO_ALERT = AlertConfig()  # BTC.COM's "no alert" object: what a sub-account without a row has


@dataclass(frozen=True)
class LogEntry:
    """One line of the alert log; ``value``/``threshold`` are the texts shown."""

    puid: int
    created_at: int
    kind: AlertKind
    event: str
    message: str
    value: str
    threshold: str
    unit: str
    interval: int


class TooManyContacts(ValueError):
    """The sub-account has ``CONTACTS_MAX`` contacts already."""


def validate_config(config: AlertConfig) -> AlertConfig:
    """``config`` as stored, or ``ValueError`` naming the parameter at fault."""
    try:
        interval_s(config.interval)
    except ValueError as exc:
        raise ValueError(f"interval: {exc}") from None
    try:
        hashrate = parse_threshold(config.hashrate)
    except ValueError as exc:
        raise ValueError(f"hashrate: {exc}") from None
    if config.unit not in HASHRATE_UNITS:
        raise ValueError(f"unit: one of {', '.join(HASHRATE_UNITS)}, got {config.unit!r}")
    if not 0 <= config.miners <= MINERS_MAX:
        raise ValueError(f"miners: from 0 to {MINERS_MAX}, got {config.miners}")
    if config.hashrate_enabled and Decimal(hashrate) == 0:
        raise ValueError("hashrate: set a threshold above 0 to enable the hashrate alert")
    if config.miners_enabled and config.miners == 0:
        raise ValueError("miners: set a threshold above 0 to enable the miners alert")
    return dataclasses.replace(config, hashrate=hashrate)


def _config(row: Any) -> AlertConfig:
    return AlertConfig(
        interval=int(row.interval_h),
        hashrate=row.hashrate_value,
        unit=row.hashrate_unit,
        hashrate_enabled=bool(row.hashrate_enabled),
        miners=int(row.miners_value),
        miners_enabled=bool(row.miners_enabled),
    )


def _contact_fields(note: str, email: str | None, webhook_url: str | None) -> dict[str, Any]:
    """Checked contact columns; '' or None for email/webhook_url means none."""
    fields = {
        "note": validate_note(note),
        "email": validate_email(email) if email else None,
        "webhook_url": validate_webhook_url(webhook_url) if webhook_url else None,
    }
    if fields["email"] is None and fields["webhook_url"] is None:
        raise ValueError("email: give an email address, a webhook_url or both")
    return fields


class AlertStore:
    """The alert tables of one store (see the module docstring)."""

    def __init__(self, store: UnitOfWork) -> None:
        self._store = store

    # --- settings ---------------------------------------------------------------------------

    def settings(self, puid: int) -> AlertConfig:
        """The sub-account's settings; ``NO_ALERT`` if it never set any."""
        with self._store.read() as conn:
            row = conn.execute(sa.select(_s).where(_s.c.puid == puid)).first()
        return NO_ALERT if row is None else _config(row)

    def all_settings(self) -> dict[int, AlertConfig]:
        """Every stored sub-account's settings, by puid (one row each: few and small)."""
        with self._store.read() as conn:
            return {int(r.puid): _config(r) for r in conn.execute(sa.select(_s))}

    def update_settings(self, puid: int, changes: Mapping[str, Any], now: int) -> AlertConfig:
        """Apply ``changes`` (``AlertConfig`` field -> value; others unchanged) and return the
        settings stored. An alert turned off forgets its state: it clears without a notice."""
        with self._store.write() as conn:
            row = conn.execute(sa.select(_s).where(_s.c.puid == puid)).first()
            current = NO_ALERT if row is None else _config(row)
            config = validate_config(dataclasses.replace(current, **changes))
            values = {
                "interval_h": config.interval,
                "hashrate_value": config.hashrate,
                "hashrate_unit": config.unit,
                "hashrate_enabled": config.hashrate_enabled,
                "miners_value": config.miners,
                "miners_enabled": config.miners_enabled,
                "updated_at": now,
            }
            if row is None:
                conn.execute(sa.insert(_s).values(puid=puid, **values))
            else:
                conn.execute(sa.update(_s).where(_s.c.puid == puid).values(**values))
            off = [
                kind
                for kind, on in (
                    (AlertKind.HASHRATE, config.hashrate_enabled),
                    (AlertKind.MINERS, config.miners_enabled),
                )
                if not on
            ]
            conn.execute(sa.delete(_st).where(_st.c.puid == puid, _st.c.kind.in_(off)))
        return config

    # --- contacts ---------------------------------------------------------------------------

    def contacts(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's contacts, oldest first."""
        with self._store.read() as conn:
            rows = conn.execute(sa.select(_c).where(_c.c.puid == puid).order_by(_c.c.id))
            return [dict(r._mapping) for r in rows]

    def contacts_of(self, puids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """Contacts of several sub-accounts at once (the evaluator's), by puid."""
        out: dict[int, list[dict[str, Any]]] = {}
        wanted = sorted(set(puids))
        with self._store.read() as conn:
            for first in range(0, len(wanted), 500):
                chunk = wanted[first : first + 500]
                query = sa.select(_c).where(_c.c.puid.in_(chunk)).order_by(_c.c.id)
                for r in conn.execute(query):
                    out.setdefault(int(r.puid), []).append(dict(r._mapping))
        return out

    def create_contact(
        self, puid: int, note: str, email: str | None, webhook_url: str | None, now: int
    ) -> dict[str, Any]:
        """A new contact (at most ``CONTACTS_MAX`` per sub-account); ``ValueError`` naming the
        field for a bad one, ``TooManyContacts`` past the limit."""
        fields = _contact_fields(note, email, webhook_url)
        with self._store.write() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(_c).where(_c.c.puid == puid)
            ).scalar_one()
            if count >= CONTACTS_MAX:
                raise TooManyContacts(
                    f"puid: a sub-account has at most {CONTACTS_MAX} contacts; delete one first"
                )
            row = conn.execute(
                sa.insert(_c)
                .values(puid=puid, created_at=now, updated_at=now, **fields)
                .returning(*_c.c)
            ).one()
        return dict(row._mapping)

    def update_contact(
        self, puid: int, contact_id: int, changes: Mapping[str, str | None], now: int
    ) -> dict[str, Any] | None:
        """Change the given fields (note, email, webhook_url; '' removes email or webhook_url);
        ``None`` if the contact is not one of this sub-account's."""
        unknown = set(changes) - {"note", "email", "webhook_url"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: not a contact field")
        with self._store.write() as conn:
            row = conn.execute(
                sa.select(_c).where(_c.c.puid == puid, _c.c.id == contact_id)
            ).first()
            if row is None:
                return None
            merged = {**dict(row._mapping), **changes}
            fields = _contact_fields(merged["note"], merged["email"], merged["webhook_url"])
            updated = conn.execute(
                sa.update(_c)
                .where(_c.c.puid == puid, _c.c.id == contact_id)
                .values(updated_at=now, **fields)
                .returning(*_c.c)
            ).one()
        return dict(updated._mapping)

    def delete_contact(self, puid: int, contact_id: int) -> bool:
        """``False`` if the contact is not one of this sub-account's."""
        with self._store.write() as conn:
            result = conn.execute(sa.delete(_c).where(_c.c.puid == puid, _c.c.id == contact_id))
        return bool(result.rowcount)

    # --- the log ----------------------------------------------------------------------------

    def log(self, puid: int, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(entries in all, a page of them newest first)."""
        with self._store.read() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(_l).where(_l.c.puid == puid)
            ).scalar_one()
            rows = conn.execute(
                sa.select(_l)
                .where(_l.c.puid == puid)
                .order_by(_l.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return int(total), [dict(r._mapping) for r in rows]

    def mark_read(self, puid: int, log_id: int) -> bool:
        """``False`` if the entry is not one of this sub-account's; reading twice is fine."""
        with self._store.write() as conn:
            result = conn.execute(
                sa.update(_l).where(_l.c.puid == puid, _l.c.id == log_id).values(is_read=True)
            )
        return bool(result.rowcount)

    def append_log(self, entries: Sequence[LogEntry]) -> list[int]:
        """Add entries (e.g. failed deliveries); their ids in order."""
        with self._store.write() as conn:
            return _insert_log(conn, entries)

    # --- the evaluator's state --------------------------------------------------------------

    def states(self) -> dict[tuple[int, AlertKind], AlertState]:
        """Every alert that is not idle, by (puid, kind)."""
        with self._store.read() as conn:
            return {
                (int(r.puid), AlertKind(r.kind)): AlertState(
                    int(r.breaches), int(r.clears), bool(r.firing), int(r.last_notified_at)
                )
                for r in conn.execute(sa.select(_st))
            }

    def record(
        self,
        states: Mapping[tuple[int, AlertKind], AlertState],
        entries: Sequence[LogEntry],
        now: int,
        guard: Callable[[sa.Connection], None] | None = None,
    ) -> list[int]:
        """A check's outcome in one transaction: the new states (idle ones deleted) and its log
        entries, whose ids are returned. State and log can then never disagree. ``guard``
        runs last in that transaction, before its commit (the jobs lease check); when it
        raises, nothing is written."""
        with self._store.write() as conn:
            for (puid, kind), state in states.items():
                key = (_st.c.puid == puid, _st.c.kind == kind.value)
                conn.execute(sa.delete(_st).where(*key))
                if state != IDLE:
                    conn.execute(
                        sa.insert(_st).values(
                            puid=puid,
                            kind=kind.value,
                            updated_at=now,
                            **dataclasses.asdict(state),
                        )
                    )
            ids = _insert_log(conn, entries)
            if guard is not None:
                guard(conn)
            return ids

    def names(self, puids: Iterable[int]) -> dict[int, str]:
        """Sub-account names by puid, for notices."""
        sub = schema.subaccounts
        wanted = sorted(set(puids))
        out: dict[int, str] = {}
        with self._store.read() as conn:
            for first in range(0, len(wanted), 500):
                query = sa.select(sub.c.puid, sub.c.name).where(
                    sub.c.puid.in_(wanted[first : first + 500])
                )
                out.update({int(r.puid): str(r.name) for r in conn.execute(query)})
        return out


def _insert_log(conn: sa.Connection, entries: Sequence[LogEntry]) -> list[int]:
    ids = []
    for e in entries:
        values = dataclasses.asdict(e)
        values["interval_h"] = values.pop("interval")
        values["kind"] = e.kind.value
        ids.append(
            int(conn.execute(sa.insert(_l).values(**values).returning(_l.c.id)).scalar_one())
        )
    return ids


if TYPE_CHECKING:
    from poolstats.store.ports.alerts import AlertsPort

    _conforms: type[AlertsPort] = AlertStore
