"""Payout address validation against the published BIP-173 / BIP-350 test vectors."""

from __future__ import annotations

import hashlib

import pytest

from poolstats.domain.payout_address import output_script, validate_address

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


# Published scriptPubKeys: BIP-173's (P2WPKH, P2WSH) and BIP-350's (taproot) test vectors.
BECH32_SCRIPTS = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]


@pytest.mark.parametrize(("address", "script"), BECH32_SCRIPTS)
def test_segwit_addresses_pay_their_published_scripts(address: str, script: str) -> None:
    assert output_script(address).hex() == script


def _base58_payload(address: str) -> bytes:
    """Base58check decoded here, without the code under test: version byte + 20-byte hash."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for ch in address:
        n = n * 58 + alphabet.index(ch)
    raw = n.to_bytes(25, "big")
    assert hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]
    return raw[:21]


def test_base58_addresses_pay_p2pkh_and_p2sh_scripts() -> None:
    genesis = _base58_payload("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    assert genesis.hex() == "0062e907b15cbf27d5425399ebf6f0fb50ebb88f18"  # the genesis key's hash
    # OP_DUP OP_HASH160 <20 bytes> OP_EQUALVERIFY OP_CHECKSIG
    assert output_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa") == (
        bytes([0x76, 0xA9, 20]) + genesis[1:] + bytes([0x88, 0xAC])
    )
    p2sh = _base58_payload("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
    assert p2sh[0] == 5
    # OP_HASH160 <20 bytes> OP_EQUAL
    assert output_script(" 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy") == (
        bytes([0xA9, 20]) + p2sh[1:] + bytes([0x87])
    )


def test_an_invalid_address_has_no_script() -> None:
    with pytest.raises(ValueError, match="test network"):
        output_script("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7")
