"""Realtime windows and history buckets; pure given ``now`` (no I/O, never reads the time)."""
