"""A stratum server's parts from the settings: checked once, with the setting named."""

from __future__ import annotations

import pytest

from poolstats.config import Settings
from poolstats.stratum.build import job_source
from poolstats.stratum.jobs import StaticTemplate

# BIP 173's P2WPKH example and the script it pays: OP_0, a 20-byte push of the key hash.
ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")


def test_a_static_template_pays_the_payout_address_and_carries_the_tag() -> None:
    source = job_source(Settings(stratum_payout_address=ADDRESS, stratum_tag="/pool-7/"))
    assert isinstance(source, StaticTemplate)
    job = source.job("1", 1_800_000_000)
    assert b"/pool-7/" in job.coinb1
    # the only output: the 3.125 BTC subsidy of its height, then the script's length and it
    assert job.coinb2.endswith((312_500_000).to_bytes(8, "little") + b"\x16" + SCRIPT + bytes(4))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stratum_tag": "x" * 76}, "stratum_tag: the pool tag is at most 75 bytes"),
        ({"stratum_payout_address": "bc1qnope"}, "stratum_payout_address: "),
    ],
)
def test_static_jobs_refuse_a_bad_tag_or_address_by_name(
    changes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        job_source(Settings(**changes))  # type: ignore[arg-type]
    assert str(refused.value).startswith(message)
