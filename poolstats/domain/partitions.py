"""Which partition of the share bus a sub-account's shares travel on, and its subject.

Why a fixed hash: every producer (the gateway, a stratum server written in another language,
a script) must send a sub-account's shares to the partition whose aggregator owns that
sub-account, and every process must agree on it across restarts and versions. Python's
``hash()`` is salted per process, so it is out; the rule below is exact integer arithmetic
that any language can repeat.

The rule (also in docs/cluster.md, "Partitions"), all arithmetic on unsigned 64-bit integers
(wrapping, i.e. modulo 2**64):

    z = puid + 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z =  z ^ (z >> 31)
    partition = z % partitions

That is SplitMix64's output for the state ``puid`` (Steele, Lea and Flood, 2014; the seeding
generator of Java's SplittableRandom and of xoshiro): a bijection on 64-bit integers whose
every output bit depends on every input bit, so consecutive puids (how sub-accounts are
numbered) spread evenly over any partition count, not only powers of two.
"""

from __future__ import annotations

MASK64 = 2**64 - 1
GAMMA = 0x9E3779B97F4A7C15
SUBJECT_PREFIX = "poolstats.shares"


def mix64(value: int) -> int:
    """SplitMix64's output for the state ``value`` (0 <= value < 2**64): 64 well-mixed bits."""
    z = (value + GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def partition_of(puid: int, partitions: int) -> int:
    """The partition (0 <= p < ``partitions``) that sub-account ``puid`` belongs to.

    ``ValueError`` for a puid outside 0..2**64-1 or fewer than one partition: a wrong input
    is refused rather than silently sent to some partition."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, not {partitions}")
    if not 0 <= puid <= MASK64:
        raise ValueError(f"puid must be an unsigned 64-bit integer, not {puid}")
    return mix64(puid) % partitions


def subject_of(partition: int, prefix: str = SUBJECT_PREFIX) -> str:
    """The bus subject of ``partition``: ``poolstats.shares.<partition>`` by default.

    ``prefix`` exists so that tests (and two clusters sharing one NATS) can keep their
    streams apart; production uses the default."""
    if partition < 0:
        raise ValueError(f"a partition is not negative: {partition}")
    return f"{prefix}.{partition}"


def subjects_of(prefix: str = SUBJECT_PREFIX) -> str:
    """The wildcard subject of every partition (the stream's subject filter)."""
    return f"{prefix}.*"
