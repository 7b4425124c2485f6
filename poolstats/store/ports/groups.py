"""The groups port: a sub-account's worker groups and which group each worker is in.

Separate from accounts because its callers are the worker-group API alone, and because it
changes worker rows (a backend keeping worker lists must drop them when it does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class GroupExists(ValueError):
    """The worker group name is already taken within the sub-account."""


class GroupsPort(Protocol):
    """Worker groups: -1 DEFAULT and 0 deleted are implicit; real gids start at 1."""

    def groups(self, puid: int) -> list[dict[str, Any]]:
        """The sub-account's groups (gid, puid, name, sort_id, created_at, updated_at) by
        (sort_id, gid)."""
        ...

    def group(self, puid: int, gid: int) -> dict[str, Any] | None:
        """One group, or ``None`` if the gid is not one of the sub-account's."""
        ...

    def create_group(self, puid: int, name: str, now: int) -> dict[str, Any]:
        """A new group (its row; sort_id = gid). ``GroupExists`` if the puid has the name."""
        ...

    def rename_group(self, puid: int, gid: int, name: str, now: int) -> bool:
        """``False`` if the gid is not the sub-account's; ``GroupExists`` for a taken name."""
        ...

    def delete_group(self, puid: int, gid: int, now: int) -> bool:
        """Move the group's workers to DEFAULT and delete it, atomically; ``False`` if the gid
        is not the sub-account's."""
        ...

    def move_workers(self, puid: int, worker_ids: Sequence[int], group_id: int, now: int) -> bool:
        """Put workers in a group (-1 DEFAULT, 0 deleted, or a gid of the puid), all or none.

        ``False``, with nothing changed, if a worker or the group is not the sub-account's.
        """
        ...
