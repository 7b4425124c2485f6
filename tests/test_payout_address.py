"""Payout address validation against the published BIP-173 / BIP-350 test vectors."""

from __future__ import annotations

import pytest

from poolstats.payout_address import validate_address

VALID = [
    # (input, normalised)
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),  # genesis
    ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),  # P2SH
    # BIP-173: P2WPKH, all upper case is valid and is normalised to lower case.
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"),
    # BIP-173: P2WSH (32-byte v0 program).
    (
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    ),
    # BIP-350: taproot (v1, 32 bytes, bech32m).
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    ),
    ("  1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
]


@pytest.mark.parametrize(("text", "normalised"), VALID)
def test_valid_mainnet_addresses(text: str, normalised: str) -> None:
    assert validate_address(text) == normalised


INVALID = [
    # (input, words the reason must contain)
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "base58 checksum"),  # last character changed
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", "base58"),  # '0' is not a base58 character
    ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "testnet P2PKH"),
    ("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", "testnet P2SH"),
    # BIP-173: invalid checksum.
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bech32 checksum"),
    # BIP-173: mixed case.
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kV8f3t4", "mixed"),
    # BIP-350: bech32 (not bech32m) checksum with witness v1.
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        "segwit version 1 must use the bech32m checksum",
    ),
    # BIP-350: bech32m checksum with witness v0.
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "segwit version 0 must use the bech32 checksum"),
    # BIP-173/350 testnet vectors: valid addresses, but not mainnet.
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "test network"),
    ("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "test network"),
    # BIP-350: invalid program length (1 byte).
    ("bc1pw5dgrnzv", "segwit program"),
    # BIP-350: valid encodings of future versions / non-taproot v1, refused for payouts.
    ("BC1SW50QGDZ25J", "segwit version 16"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "segwit version 2"),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "32-byte",
    ),
    ("", "empty"),
    ("hello", "base58"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_addresses_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"^address: ") as excinfo:
        validate_address(text)
    assert reason in str(excinfo.value)
