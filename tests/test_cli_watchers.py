"""``poolstats watcher`` as an operator runs it, and a real server's output while watcher
tokens are used: the token is printed once by ``create`` and never by the server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from poolstats import cli
from tests import nodes
from tests.nodes import Node, stored

pytestmark = pytest.mark.slow


def run(*args: str) -> tuple[int, str, str]:
    """The command in this process (typer's CliRunner): exit code, stdout, stderr."""
    result = CliRunner().invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_list_and_revoke_a_link(tmp_path: Path) -> None:
    data = str(tmp_path)
    nodes.create_user(tmp_path, "alice")
    code, out, _ = run("watcher", "create", "alice", "--note", "Wang Yang", "--data-dir", data)
    assert code == 0, out
    made = json.loads(out)
    token = made["watcher_token"]
    assert (made["id"], made["puid"], made["note"]) == (1, 1, "Wang Yang")
    assert token.startswith("r_") and len(token) == 34
    code, out, err = run("watcher", "create", "1", "--note", "x", "--data-dir", data)
    assert (code, out) == (1, "") and "note:" in " ".join(err.split())
    code, out, _ = run("watcher", "list", "alice", "--data-dir", data)
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(w["id"], w["watcher_key"], w["note"]) for w in listed] == [
        (1, token[:8] + "***", "Wang Yang")
    ]
    assert token not in out
    (token_hash,) = stored(tmp_path, "SELECT token_hash FROM watchers")[0]
    assert token not in token_hash
    code, out, err = run("watcher", "revoke", "alice", "2", "--data-dir", data)
    assert code == 1 and "no watcher link 2" in " ".join(err.split())
    code, out, _ = run("watcher", "revoke", "alice", "1", "--data-dir", data)
    assert (code, json.loads(out)) == (0, {"revoked": True, "id": 1})
    assert stored(tmp_path, "SELECT id FROM watchers") == []
    code, _, err = run("watcher", "list", "nobody", "--data-dir", data)
    assert code == 1 and "no sub-account is named 'nobody'" in " ".join(err.split())


def test_the_server_never_prints_a_watcher_token(tmp_path: Path) -> None:
    data = tmp_path / "node"
    alice = nodes.create_user(data, "alice")
    nodes.create_user(data, "bob")
    made = nodes.run("watcher", "create", "alice", "--note", "shared", "--data-dir", str(data))
    token = json.loads(made.stdout)["watcher_token"]
    with Node(data) as node:
        assert node.get("/v1/worker/stats", watcher_token=token)["err_no"] == 0
        assert node.get("/v1/worker", watcher_token=token, puid=2)["err_no"] == 20002
        assert node.get("/v1/worker", watcher_token=token + "x")["err_no"] == 20001
        others = node.get("/v1/account/watcher/others-list", watcher_token=token)
        assert [i["puid"] for i in others["data"]] == [alice["puid"]]
        write = httpx.post(node.url + "/v1/groups/create",
                           params={"watcher_token": token, "group_name": "g"})  # fmt: skip
        assert write.json()["err_no"] == 20002
        assert httpx.get(node.url + f"/nothing?watcher_token={token}").status_code == 404
    log = node.log()
    assert log.strip(), "the server said nothing at all: nothing was checked"
    assert token not in log and token[2:] not in log
