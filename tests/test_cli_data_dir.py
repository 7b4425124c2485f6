"""Which commands create a data folder: ``init``, ``serve`` and ``demo`` do; every command
that reads or changes a store refuses a folder without one, in one line, creating nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from poolstats import cli
from poolstats.store import SqliteStore
from tests import nodes

# Every command that reads or changes an existing store, with its other arguments.
STORE_COMMANDS = [
    ["user", "create", "alice"],
    ["subaccount", "create", "alice-b", "--account", "alice"],
    ["subaccount", "set", "alice", "--region", "eu"],
    ["key", "create", "--account", "alice"],
    ["key", "revoke"],  # the key comes on standard input
    ["network", "set", "--difficulty", "1000", "--height", "1"],
    ["network", "show"],
    ["settle"],
    ["payouts", "create"],
    ["payouts", "export", "1"],
    ["payouts", "confirm", "1", "--txid", "ef" * 32],
    ["payouts", "cancel", "1"],
    ["payouts", "list"],
    ["blocks"],
    ["simulate", "--url", "http://127.0.0.1:9", "--duration", "0.1"],  # sub-accounts first
]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.app, list(args), input="some-access-key\n")
    return result.exit_code, result.stdout, result.stderr


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_store_command_refuses_a_folder_that_does_not_exist(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "typo" / "data"
    code, out, err = run(*command, "--data-dir", str(missing))
    assert (code, out) == (1, "")
    line = one_line(err)
    assert str(missing) in line and f"poolstats init --data-dir {missing}" in line
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the parent


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_store_command_refuses_a_folder_without_a_database(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "notes.txt").write_text("not a store")
    code, out, err = run(*command, "--data-dir", str(tmp_path))
    assert (code, out) == (1, "")
    assert "poolstats init" in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "command", [*STORE_COMMANDS, ["init"], ["serve"], ["demo"]], ids=lambda c: " ".join(c[:2])
)
def test_a_data_dir_that_is_a_file_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    afile = tmp_path / "poolstats.conf"
    afile.write_text("x")
    for given in (afile, afile / "data"):
        code, out, err = run(*command, "--data-dir", str(given))
        assert code == 1
        assert "is a file, not a folder" in one_line(err) and str(afile) in err
        assert "access_key" not in out  # the demo printed no key
    assert afile.read_text() == "x" and sorted(tmp_path.iterdir()) == [afile]


def test_init_creates_the_folder_and_database_once(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    code, out, _ = run("init", "--data-dir", str(data))
    assert code == 0 and one_line(out) == f"created a poolstats database in {data}"
    assert (data / "poolstats.sqlite3").is_file()
    code, out, _ = run("user", "create", "alice", "--data-dir", str(data))
    assert code == 0 and json.loads(out)["puid"] == 1
    code, out, _ = run("init", "--data-dir", str(data))  # again: the store is kept as it was
    assert code == 0 and "already" in one_line(out)
    with SqliteStore.open(data) as store:
        assert store.subaccounts() == {"alice": 1}


def test_ingest_of_a_missing_file_is_one_line_and_sends_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", "--data-dir", str(data))[0] == 0
    assert run("user", "create", "alice", "--data-dir", str(data))[0] == 0
    good = tmp_path / "good.ndjson"
    good.write_text('{"ts": 1700000000, "user": "alice", "worker": "w", "diff": 1, '
                    '"accepted": true}\n')  # fmt: skip
    missing = tmp_path / "missing.ndjson"
    for files in ([missing], [good, missing], [good, tmp_path]):
        result = nodes.run("ingest", *map(str, files), "--data-dir", str(data))
        assert (result.returncode, result.stdout) == (1, "")
        line = one_line(result.stderr)
        assert str(files[-1]) in line
    with SqliteStore.open(data) as store:  # the good file before it was not sent either
        assert store.pool_stats() is None
    code, _, err = run("ingest", str(good), "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1 and "poolstats init" in one_line(err)
    assert not (tmp_path / "nowhere").exists()


def test_a_folder_whose_database_went_missing_is_not_given_a_new_one(tmp_path: Path) -> None:
    """init, and every store command, refuse a folder whose journal outlived its database:
    a new database there would lose every account and key, and make the journal's shares
    count for sub-accounts that do not exist."""
    data = tmp_path / "data"
    assert run("init", "--data-dir", str(data))[0] == 0
    assert run("user", "create", "alice", "--data-dir", str(data))[0] == 0
    shares = tmp_path / "shares.ndjson"
    shares.write_text('{"ts": 1700000000, "user": "alice", "worker": "w", "diff": 1, '
                      '"accepted": true}\n')  # fmt: skip
    code, out, _ = run("ingest", str(shares), "--data-dir", str(data))
    assert code == 0 and json.loads(out)["accepted"] == 1
    (data / "poolstats.sqlite3").write_bytes(b"")  # emptied: the journal holds a record
    before = sorted((p.name, p.stat().st_size) for p in data.rglob("*") if p.is_file())
    for command in (["init"], ["user", "create", "bob"]):
        code, out, err = run(*command, "--data-dir", str(data))
        assert (code, out) == (1, "")
        assert "--start-fresh" in one_line(err)
    after = sorted((p.name, p.stat().st_size) for p in data.rglob("*") if p.is_file())
    assert after == before
