"""Decoded share columns as plain rows, to compare what a sender sent with what a fleet made."""

from __future__ import annotations

from poolstats.domain.share import ShareColumns

Row = tuple[float, str | None, str | None, float, int, str]


def share_rows(c: ShareColumns) -> list[Row]:
    """(ts, user, worker, diff, status, ip) from decoded ShareColumns."""
    return list(
        zip(
            c.ts.tolist(),
            [c.w_user[i] for i in c.worker_idx.tolist()],
            [c.w_name[i] for i in c.worker_idx.tolist()],
            c.diff.tolist(),
            c.status.tolist(),
            [c.ips[i] for i in c.ip_idx.tolist()],
            strict=True,
        )
    )
