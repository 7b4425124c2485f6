"""Validation of the Bitcoin mainnet address a sub-account or the pool's coinbase is paid to,
and the output script that pays it.

A payout sent to a mistyped address is lost for good, so an address is checked when it is
set, not when the pool pays. The checksums (base58check's double SHA-256, BIP-173's bech32
and BIP-350's bech32m) come from ``embit``, a small pure-Python library without dependencies;
its ``address_to_scriptpubkey`` is not used because it accepts every network's prefixes and
refuses all-uppercase bech32, so the mainnet and case rules are applied here. Kept outside
``domain/`` so that the domain stays free of third-party code.
"""

from __future__ import annotations

from embit import base58, bech32

MAINNET_HRP = "bc"
P2PKH_VERSION = 0x00  # addresses starting with 1
P2SH_VERSION = 0x05  # addresses starting with 3
#: Testnet, signet and regtest prefixes: named in the refusal, since pasting one is common.
OTHER_NETWORK_HRPS = ("tb", "bcrt")
OTHER_NETWORK_VERSIONS = {0x6F: "testnet P2PKH", 0xC4: "testnet P2SH"}
TAPROOT_PROGRAM_LEN = 32
MAX_ADDRESS_LEN = 90  # BIP-173's limit; base58 addresses are at most 35 characters


def validate_address(text: str) -> str:
    """The address, normalised (bech32 in lower case), or ``ValueError`` saying what is wrong.

    Accepted: P2PKH (1...), P2SH (3...), segwit v0 (bc1q..., bech32, 20- or 32-byte program)
    and taproot (bc1p..., bech32m, 32-byte program). Segwit versions 2 to 16 are valid
    BIP-350 addresses but no consensus rule spends them yet, so a payout to one would be
    anyone's: refused, as is a v1 program that is not 32 bytes (not taproot).
    """
    if not isinstance(text, str):
        raise ValueError(f"address: must be text, not {type(text).__name__}")
    address = text.strip()
    if not address:
        raise ValueError("address: empty")
    if len(address) > MAX_ADDRESS_LEN:
        raise ValueError(f"address: longer than {MAX_ADDRESS_LEN} characters")
    if (
        address[:3].lower() == MAINNET_HRP + "1"
        or address[:3].lower() == "tb1"
        or (address[:5].lower() == "bcrt1")
    ):
        return _segwit(address)
    return _base58(address)


def _segwit(address: str) -> str:
    if address.lower() != address and address.upper() != address:
        raise ValueError("address: bech32 must be all lower case or all upper case, not mixed")
    lower = address.lower()
    hrp = lower[: lower.rfind("1")]
    if hrp in OTHER_NETWORK_HRPS:
        raise ValueError(f"address: {hrp}1... is a test network address, not mainnet (bc1...)")
    encoding, _, data = bech32.bech32_decode(lower)
    if encoding is None:
        raise ValueError("address: bad bech32 checksum or character (a typo?)")
    version, program = bech32.decode(MAINNET_HRP, lower)
    if version is None or program is None:
        # The checksum is right, so the encoding is wrong for the version or the program
        # is malformed: name the BIP-350 rule when that is the cause.
        witver = data[0] if data else None
        expected = bech32.Encoding.BECH32 if witver == 0 else bech32.Encoding.BECH32M
        if witver is not None and witver <= 16 and encoding != expected:
            wanted = "bech32" if witver == 0 else "bech32m"
            raise ValueError(f"address: segwit version {witver} must use the {wanted} checksum")
        raise ValueError("address: not a valid segwit program")
    if version >= 2:
        raise ValueError(f"address: segwit version {version} is not spendable yet; refused")
    if version == 1 and len(program) != TAPROOT_PROGRAM_LEN:
        raise ValueError("address: a segwit v1 address must have a 32-byte (taproot) program")
    return lower


def _base58(address: str) -> str:
    try:
        payload = base58.decode_check(address)
    except (ValueError, IndexError, KeyError):
        raise ValueError("address: bad base58 checksum or character (a typo?)") from None
    if len(payload) != 21:
        raise ValueError("address: not a P2PKH or P2SH address (wrong length)")
    version = payload[0]
    if version in OTHER_NETWORK_VERSIONS:
        raise ValueError(f"address: a {OTHER_NETWORK_VERSIONS[version]} address, not mainnet")
    if version not in (P2PKH_VERSION, P2SH_VERSION):
        raise ValueError(f"address: unknown base58 version byte {version:#04x}")
    return address


def output_script(text: str) -> bytes:
    """The scriptPubKey that pays a valid address (``ValueError`` as ``validate_address``):
    P2PKH ``OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG``, P2SH ``OP_HASH160 <20>
    OP_EQUAL``, segwit ``OP_n <program>`` (BIP 141; v1 is ``OP_1``)."""
    address = validate_address(text)
    if address.startswith(MAINNET_HRP + "1"):
        version, program = bech32.decode(MAINNET_HRP, address)
        assert version is not None and program is not None  # validated above
        op = 0x00 if version == 0 else 0x50 + version  # OP_0, OP_1..OP_16
        return bytes([op, len(program), *program])
    payload: bytes = base58.decode_check(address)
    if payload[0] == P2PKH_VERSION:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    return b"\xa9\x14" + payload[1:] + b"\x87"
