"""The poolstats command as an operator runs it: real processes, a real server."""

from __future__ import annotations

import gzip
import json
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import httpx
import msgspec
import pytest
from typer.testing import CliRunner

from poolstats import cli
from poolstats.config import Settings
from poolstats.domain.accounts import PROFILE_FIELDS
from poolstats.store import SqliteStore
from poolstats.store.base import KeyGrant
from tests import nodes
from tests.nodes import TOKEN, Node, free_port, poolstats, stored, wait_for
from tests.store.contract.test_ledger_port import ADDR1, D0, DAY, book

pytestmark = pytest.mark.slow


def shares_file(path: Path, user: str, worker: str, n: int, diff: float) -> float:
    """Writes n shares (plus one refused line) and returns their difficulty sum."""
    now = time.time()
    lines = [
        msgspec.json.encode(
            {
                "ts": now - 60 + i * 0.01,
                "user": user,
                "worker": worker,
                "diff": diff,
                "accepted": True,
            }
        )
        for i in range(n)
    ]
    body = b"\n".join([*lines, b'{"ts": "yesterday"}']) + b"\n"
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return n * diff


def test_user_create_prints_the_key_once_and_refuses_a_taken_name(tmp_path: Path) -> None:
    init(tmp_path)
    created = json.loads(
        nodes.run("user", "create", "alice", "--data-dir", str(tmp_path), check=True).stdout
    )
    assert created["puid"] == 1 and created["user_name"] == "alice"
    assert len(created["access_key"]) >= 32
    again = nodes.run("user", "create", "alice", "--data-dir", str(tmp_path))
    assert again.returncode == 1 and "alice" in again.stderr
    bad = nodes.run("user", "create", "no spaces", "--data-dir", str(tmp_path))
    assert bad.returncode == 1
    (key_hash,) = stored(tmp_path, "SELECT key_hash FROM access_keys")[0]
    assert created["access_key"] not in str(key_hash)  # stored hashed


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """The command in this process (typer's CliRunner): exit code, stdout, stderr."""
    result = CliRunner().invoke(cli.app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def init(data_dir: Path) -> None:
    """``poolstats init``: the store the other commands need (they create none)."""
    code, out, _ = run("init", "--data-dir", str(data_dir))
    assert code == 0 and str(data_dir) in out


def test_subaccount_create_adds_a_puid_to_an_existing_account(tmp_path: Path) -> None:
    data = str(tmp_path)
    init(tmp_path)
    assert run("user", "create", "alice", "--data-dir", data)[0] == 0
    code, out, _ = run("subaccount", "create", "alice-b", "--account", "alice", "--data-dir", data)
    assert code == 0
    assert json.loads(out) == {"puid": 2, "user_name": "alice-b", "account": "alice"}
    with SqliteStore.open(tmp_path) as store:
        assert store.subaccounts() == {"alice": 1, "alice-b": 2}
        profile = store.subaccount_profile(2)
        assert profile is not None and profile["account_id"] == 1


@pytest.mark.parametrize(
    ("account", "name", "message"),
    [
        ("nobody", "farm", "no account is named 'nobody'"),
        ("alice", "alice", "'alice' is already taken"),
        ("alice", "bad name", "only A-Z a-z 0-9 _ - are allowed"),
    ],
)
def test_subaccount_create_explains_a_refusal(
    tmp_path: Path, account: str, name: str, message: str
) -> None:
    init(tmp_path)
    run("user", "create", "alice", "--data-dir", str(tmp_path))
    code, out, err = run(
        "subaccount", "create", name, "--account", account, "--data-dir", str(tmp_path)
    )
    assert (code, out) == (1, "")
    assert message in " ".join(err.split())  # rich may wrap the line
    with SqliteStore.open(tmp_path) as store:
        assert store.subaccounts() == {"alice": 1}


def test_key_create_prints_a_key_that_opens_the_account(tmp_path: Path) -> None:
    data = str(tmp_path)
    init(tmp_path)
    run("user", "create", "alice", "--data-dir", data)
    run("subaccount", "create", "alice-b", "--account", "alice", "--data-dir", data)
    code, out, _ = run("key", "create", "--account", "alice", "--read-only", "--data-dir", data)
    assert code == 0
    printed = json.loads(out)
    assert (printed["account"], printed["read_only"]) == ("alice", True)
    code, out, _ = run("key", "create", "--account", "alice", "--data-dir", data)
    writer = json.loads(out)["access_key"]
    with SqliteStore.open(tmp_path) as store:
        assert store.key_grant(printed["access_key"]) == KeyGrant(1, (1, 2), read_only=True)
        assert store.key_grant(writer) == KeyGrant(1, (1, 2), read_only=False)
    code, out, err = run("key", "create", "--account", "bob", "--data-dir", data)
    assert (code, out) == (1, "")
    assert "no account is named 'bob'" in err
    assert len(stored(tmp_path, "SELECT id FROM access_keys")) == 3  # alice's first one + 2


def test_key_revoke_takes_the_key_from_stdin_and_it_opens_nothing_afterwards(
    tmp_path: Path,
) -> None:
    data = str(tmp_path)
    init(tmp_path)
    key = json.loads(run("user", "create", "alice", "--data-dir", data)[1])["access_key"]
    assert run("key", "revoke", "--data-dir", data, stdin=key + "\n")[:2] == (
        0,
        '{"revoked": true}\n',
    )
    with SqliteStore.open(tmp_path) as store:
        assert store.key_grant(key) is None
    code, out, err = run("key", "revoke", "--data-dir", data, stdin=key + "\n")
    assert (code, out) == (1, "") and "already revoked" in err
    assert run("key", "revoke", "--data-dir", data, stdin="")[0] == 1


def test_subaccount_set_stores_the_given_profile_fields(tmp_path: Path) -> None:
    data = str(tmp_path)
    init(tmp_path)
    run("user", "create", "alice", "--data-dir", data)
    code, out, _ = run(
        "subaccount", "set", "1", "--address", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "--phone-country", "+41", "--mail", "a@example.org", "--data-dir", data,
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["address"] == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    run("subaccount", "set", "1", "--region", "eu", "--mail", "b@example.org", "--data-dir", data)
    with SqliteStore.open(tmp_path) as store:
        profile = store.subaccount_profile(1)
    assert profile is not None
    assert {f: profile[f] for f in PROFILE_FIELDS} == {
        "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "nmc_address": "",
        "rebates_address": "",
        "region": "eu",
        "mail": "b@example.org",
        "phone_country": "+41",
        "phone_number": "",
    }


def test_subaccount_set_refuses_an_unknown_puid_and_an_empty_change(tmp_path: Path) -> None:
    data = str(tmp_path)
    init(tmp_path)
    run("user", "create", "alice", "--data-dir", data)
    code, _, err = run("subaccount", "set", "7", "--region", "eu", "--data-dir", data)
    assert code == 1 and "no sub-account has puid 7" in err
    code, _, err = run("subaccount", "set", "1", "--data-dir", data)
    assert code == 1 and "nothing to set" in err


def test_subaccount_set_payout_settings_by_name_or_puid(tmp_path: Path) -> None:
    data = str(tmp_path)
    init(tmp_path)
    run("user", "create", "alice", "--data-dir", data)
    run("user", "create", "bob", "--data-dir", data)
    code, out, _ = run(
        "subaccount", "set", "bob", "--payment-mode", "FPPS", "--fee-rate", "0.015",
        "--min-payout", "1000000", "--address", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        "--data-dir", data,
    )  # fmt: skip
    assert code == 0
    printed = json.loads(out)
    assert (printed["puid"], printed["payment_mode"], printed["fee_rate"]) == (2, "FPPS", "0.015")
    code, _, _ = run("subaccount", "set", "2", "--fee-rate", "default", "--data-dir", data)
    assert code == 0
    assert stored(
        tmp_path,
        "SELECT name, payment_mode, fee_rate, min_payout_sat, address FROM subaccounts "
        "ORDER BY puid",
    ) == [
        ("alice", "PPS", None, 500_000, ""),
        ("bob", "FPPS", None, 1_000_000, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--payment-mode", "PPLNS"], "payment_mode"),
        (["--fee-rate", "1.5"], "fee rate"),
        (["--min-payout", "-1"], "min_payout_sat"),
        (["--address", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"], "address: bad base58 checksum"),
        (["--address", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"], "address: tb1"),
    ],
)
def test_subaccount_set_refusals_name_the_field(
    tmp_path: Path, args: list[str], named: str
) -> None:
    data = str(tmp_path)
    init(tmp_path)
    run("user", "create", "alice", "--data-dir", data)
    code, out, err = run("subaccount", "set", "alice", *args, "--data-dir", data)
    assert (code, out) == (1, "") and named in err
    assert stored(
        tmp_path,
        "SELECT payment_mode, fee_rate, min_payout_sat, address, updated_at FROM subaccounts",
    ) == [("PPS", None, 500_000, "", 0)]
    code, _, err = run("subaccount", "set", "carol", "--region", "eu", "--data-dir", data)
    assert code == 1 and "no sub-account is named 'carol'" in err


def test_serve_options_for_merged_pool_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []

    def open_node(settings: Settings, parts: object, start_fresh: bool = False) -> None:
        seen.append(settings)  # and stop before anything is opened
        raise SystemExit(0)

    monkeypatch.setattr(cli.serve, "open_node", open_node)
    monkeypatch.setenv("POOLSTATS_PEER_TIMEOUT_S", "9")
    code, _, _ = run(
        "serve", "--data-dir", str(tmp_path), "--node-name", "eu-1",
        "--peer", "http://10.0.0.2:8080", "--peer", "http://10.0.0.3:8080/",
    )  # fmt: skip
    assert code == 0
    (settings,) = seen
    assert (settings.node_name, settings.peer_timeout_s) == ("eu-1", 9.0)
    assert settings.peers == "http://10.0.0.2:8080,http://10.0.0.3:8080/"
    assert settings.peer_urls() == ("http://10.0.0.2:8080", "http://10.0.0.3:8080")
    run("serve", "--data-dir", str(tmp_path), "--peer-timeout", "0.5")
    assert (seen[1].peers, seen[1].node_name, seen[1].peer_timeout_s) == ("", "", 0.5)


def test_ingest_files_straight_into_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    nodes.run("user", "create", "alice", "--data-dir", str(data), check=True)
    total = shares_file(tmp_path / "a.ndjson", "alice", "rig1", 300, 512)
    total += shares_file(tmp_path / "b.ndjson.gz", "alice", "rig2", 200, 1024)
    out = nodes.run(
        "ingest", str(tmp_path / "a.ndjson"), str(tmp_path / "b.ndjson.gz"), "--data-dir",
        str(data), check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == {"accepted": 500, "refused": 2}
    assert "ts:" in out.stderr  # the refused line is reported with its field
    rows = dict(stored(data, "SELECT worker_name, accept_count FROM workers"))
    assert rows == {"rig1": 300, "rig2": 200}
    (day,) = stored(data, "SELECT sum(accept) FROM history_subaccount WHERE period_s = 86400")
    assert day[0] == total


def test_a_user_created_while_serving_can_send_shares_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    nodes.run("user", "create", "alice", "--data-dir", str(data), check=True)
    with Node(data, until_healthy=True) as server:
        # the server is running
        nodes.run("user", "create", "bob", "--data-dir", str(data), check=True)
        total = shares_file(tmp_path / "bob.ndjson", "bob", "rig9", 100, 2048)
        out = nodes.run(
            "ingest", str(tmp_path / "bob.ndjson"), "--url", server.url, "--ingest-token", TOKEN,
            check=True,
        )  # fmt: skip
        assert json.loads(out.stdout) == {"accepted": 100, "refused": 1}

        def visible() -> bool:
            got = stored(data, "SELECT accept_15m FROM workers WHERE worker_name = 'rig9'")
            return bool(got) and got[0][0] == total

        wait_for(visible, 30, "bob's shares in the store")


def test_simulate_feeds_a_server_with_its_own_sub_accounts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    nodes.run("user", "create", "alice", "--data-dir", str(data), check=True)
    with Node(data, until_healthy=True) as server:
        out = nodes.run(
            "simulate",
            "--url",
            server.url,
            "--ingest-token",
            TOKEN,
            "--users",
            "2",
            "--workers",
            "5",
            "--duration",
            "3",
            "--data-dir",
            str(data),
            check=True,
        )
        totals = json.loads(out.stdout.strip().splitlines()[-1])
        assert totals["accepted"] > 0 and totals["refused"] == 0

        def counted() -> bool:
            got = stored(
                data,
                "SELECT count(*), sum(accept_count + reject_count) FROM workers "
                "WHERE puid IN (SELECT puid FROM subaccounts "
                "WHERE name LIKE 'sim%')",
            )
            return got[0][1] == totals["accepted"]

        wait_for(counted, 30, "every simulated share in the store")


def test_demo_serves_a_live_fleet_and_prints_the_demo_key(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        poolstats(
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--users",
            "1",
            "--workers",
            "3",
            "--backfill-hours",
            "0.5",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        printed = next(line for line in demo.stdout if line.startswith("{"))
        key = json.loads(printed)
        dashboard = next(line for line in demo.stdout if line.startswith("dashboard: "))
        assert dashboard.strip() == (
            f"dashboard: http://127.0.0.1:{port}/#/key/{key['access_key']}"
        )
        assert key["user_name"] == "demo" and key["puid"] == 1 and key["access_key"]
        names = dict(stored(tmp_path, "SELECT name, puid FROM subaccounts"))
        assert names == {"demo": 1, "sim0001": 2}

        # the backfill is in the store before the server starts
        got = stored(tmp_path, "SELECT count(DISTINCT puid), sum(accept_count) FROM workers")
        assert got[0][0] == 2 and got[0][1] > 0

        def live() -> bool:  # then the fleet's new shares come through the HTTP ingest
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.TransportError:
                return False
            return any(
                line.startswith("poolstats_shares_accepted_total") and float(line.split()[-1]) > 0
                for line in text.splitlines()
            )

        wait_for(live, 60, "the demo fleet's shares through /ingest/shares")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        assert '<script type="module" src="/static/app.js"></script>' in page  # the dashboard
        stats = httpx.get(
            f"http://127.0.0.1:{port}/v1/worker/stats",
            params={"access_key": key["access_key"]},
            timeout=5,
        ).json()
        assert stats["err_no"] == 0 and stats["data"]["workers_total"] > 0
        # the demo records a network entry, so earnings are estimated at once (yesterday's
        # too, when the backfill reaches back before midnight)
        earn = httpx.get(
            f"http://127.0.0.1:{port}/v1/account/earn-stats",
            params={"access_key": key["access_key"]},
            timeout=5,
        ).json()
        estimate = int(earn["data"]["earnings_today"]) + int(earn["data"]["earnings_yesterday"])
        assert earn["err_no"] == 0 and estimate > 0
    finally:
        demo.terminate()
        demo.wait(30)


def test_network_set_then_show_round_trips_the_exact_difficulty(tmp_path: Path) -> None:
    data = str(tmp_path)
    init(tmp_path)
    difficulty = "110451907374649.123456789012345678"  # more digits than a float keeps
    code, out, _ = run(
        "network", "set", "--difficulty", difficulty, "--height", "870000",
        "--fees-per-block", "1500000", "--at", "1700000000", "--data-dir", data,
    )  # fmt: skip
    assert code == 0
    recorded = json.loads(out)
    assert recorded["recorded_at"] >= recorded["at"]  # written now, in force from --at
    recorded.pop("recorded_at")
    assert recorded == {
        "at": 1_700_000_000,
        "difficulty": difficulty,
        "height": 870_000,
        "fees_per_block_sat": 1_500_000,
        "source": "cli",
    }
    code, out, _ = run("network", "show", "--at", "1700000599", "--data-dir", data)
    assert code == 0 and json.loads(out)["difficulty"] == difficulty
    code, out, err = run("network", "show", "--at", "1699999999", "--data-dir", data)
    assert (code, out) == (1, "") and "no network entry is in force at 1699999999" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--difficulty", "0", "--height", "1"], "difficulty must be a finite number above 0"),
        (["--difficulty", "abc", "--height", "1"], "difficulty 'abc' is not a decimal number"),
        (["--difficulty", "1", "--height", "-1"], "height must be a whole number >= 0"),
        (["--difficulty", "1", "--height", "1", "--fees-per-block", "-5"], "fees_per_block_sat"),
    ],
)
def test_network_set_refuses_bad_values(tmp_path: Path, args: list[str], message: str) -> None:
    init(tmp_path)
    code, out, err = run("network", "set", *args, "--data-dir", str(tmp_path))
    assert (code, out) == (1, "")
    assert message in " ".join(err.split())
    with SqliteStore.open(tmp_path) as store:
        assert store.network_history(0, 2**62) == []


def test_settle_and_payouts_from_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path)
    with SqliteStore.open(tmp_path) as store:
        puid = store.create_user("alice", D0).puid
        store.record_network(D0, "1000", 840_000, 0, "cli", D0)
        book(store, (puid, D0, D0, Fraction(1000), 0), (puid, D0 + DAY, D0, Fraction(10), 0))
    code, _, err = run("settle", "--day", "2023-13-01", "--data-dir", data)
    assert code == 1 and "day: expected YYYY-MM-DD" in err
    code, _, err = run("settle", "--day", "2999-01-01", "--data-dir", data)
    assert code == 1 and "has not ended yet" in err
    code, out, _ = run("settle", "--day", "2023-12-10", "--data-dir", data)  # D0 + DAY
    assert code == 0
    assert json.loads(out) == {
        "settled_through": "2023-12-10",
        "days": ["2023-12-09", "2023-12-10"],
        "earnings_rows": 2,
        "total_sat": 306_250_000 + 3_062_500,  # at the default 2% fee
        "already_settled": False,
    }
    code, out, _ = run("settle", "--day", "2023-12-10", "--data-dir", data)
    assert code == 0 and json.loads(out)["already_settled"] is True

    code, out, err = run("payouts", "create", "--data-dir", data)
    assert (code, json.loads(out)) == (0, {"batch_id": None, "payouts": []})
    assert f"puid {puid} is due a payout but has no payout address" in err
    assert run("subaccount", "set", "alice", "--address", ADDR1, "--data-dir", data)[0] == 0
    code, out, _ = run("payouts", "create", "--out", str(tmp_path / "out"), "--data-dir", data)
    assert code == 0
    created = json.loads(out)
    assert created == {
        "batch_id": 1,
        "status": "pending",
        "txid": "",
        "payouts": [{"puid": puid, "address": ADDR1, "amount": 309_312_500}],
        "csv": str(tmp_path / "out" / "batch-1.csv"),
        "sendmany": str(tmp_path / "out" / "batch-1.sendmany.json"),
    }
    assert json.loads(Path(created["sendmany"]).read_text()) == {ADDR1: 3.093125}
    code, _, err = run("payouts", "confirm", "1", "--txid", "nope", "--data-dir", data)
    assert code == 1 and "txid: expected 64 hexadecimal digits" in err
    code, out, _ = run("payouts", "confirm", "1", "--txid", "ef" * 32, "--data-dir", data)
    assert code == 0 and json.loads(out)["status"] == "paid"
    code, _, err = run("payouts", "cancel", "1", "--data-dir", data)
    assert code == 1 and "batch: 1 is paid, not pending" in err
    code, out, _ = run("payouts", "list", "--data-dir", data)
    assert [json.loads(line)["txid"] for line in out.splitlines()] == ["ef" * 32]


def test_demo_via_stratum_mines_real_shares_through_the_stratum_port(tmp_path: Path) -> None:
    port, stratum_port = free_port(), free_port()
    demo = subprocess.Popen(
        poolstats("demo", "--port", str(port), "--data-dir", str(tmp_path), "--users", "1",
                  "--workers", "2", "--via", "stratum", "--stratum-port", str(stratum_port)),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert demo.stdout is not None
        key = json.loads(next(line for line in demo.stdout if line.startswith("{")))

        def mined() -> bool:  # CPU miners' shares, every one checked by the stratum server
            got = stored(tmp_path, "SELECT puid, worker_name, accept_count FROM workers")
            return {(puid, name) for puid, name, n in got if n > 0} == {
                (puid, name) for puid in (1, 2) for name in ("cpu01", "cpu02")
            }

        wait_for(mined, 60, "both sub-accounts' CPU miners' shares in the store")
        workers = httpx.get(
            f"http://127.0.0.1:{port}/v1/worker",
            params={"access_key": key["access_key"], "puid": key["puid"]},
            timeout=5,
        ).json()["data"]["data"]
        assert {w["worker_name"] for w in workers} == {"cpu01", "cpu02"}
        assert all(w["status"] == "ACTIVE" for w in workers)
    finally:
        demo.terminate()
        demo.wait(30)
