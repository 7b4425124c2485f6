"""Settings are declared once and documented; the environment overrides the defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from poolstats.cli.settings import settings_markdown
from poolstats.config import Settings, default_text, described
from poolstats.metrics import Metrics

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    missing = [env for _, env, _, _, _ in described() if f"`{env}`" not in text]
    assert not missing, f"add to docs/settings.md (poolstats settings --markdown): {missing}"
    assert settings_markdown() in text, "docs/settings.md is out of date"


def test_environment_and_overrides(tmp_path: Path) -> None:
    env = {
        "POOLSTATS_PORT": "9001",
        "POOLSTATS_DATA_DIR": str(tmp_path),
        "POOLSTATS_FLUSH_INTERVAL_S": "2.5",
    }
    settings = Settings.from_env(env, port=None, flush_interval_s=4.0)
    assert (settings.port, settings.data_dir, settings.flush_interval_s) == (9001, tmp_path, 4.0)
    assert Settings.from_env({}).retention()[86400] is None  # daily history kept forever


def test_peer_settings_from_the_environment() -> None:
    env = {
        "POOLSTATS_NODE_NAME": "eu-1",
        "POOLSTATS_PEERS": " http://10.0.0.2:8080/ ,,http://node-b:9000 , ",
        "POOLSTATS_PEER_TIMEOUT_S": "0.25",
    }
    settings = Settings.from_env(env)
    assert (settings.node_name, settings.peer_timeout_s) == ("eu-1", 0.25)
    assert settings.peer_urls() == ("http://10.0.0.2:8080", "http://node-b:9000")
    defaults = Settings.from_env({})
    assert (defaults.node_name, defaults.peers, defaults.peer_timeout_s) == ("", "", 2.0)
    assert defaults.peer_urls() == ()
    assert Settings(peers=" / , ").peer_urls() == ()


def test_poolstats_settings_never_prints_secrets() -> None:
    from typer.testing import CliRunner

    from poolstats import cli

    env = {"POOLSTATS_INGEST_TOKEN": "tok-s3cret", "POOLSTATS_BITCOIND_PASSWORD": "pw-s3cret"}
    result = CliRunner().invoke(cli.app, ["settings"], env=env)
    assert result.exit_code == 0
    assert "s3cret" not in result.stdout and "***" in result.stdout


def test_docs_metrics_lists_every_metric() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    table = text[text.index("| metric |") :]
    assert table == Metrics().markdown(), "regenerate the table with Metrics().markdown()"


def _cli(*args: str, columns: int) -> str:
    """The command's standard output at a terminal of ``columns`` (rich reads COLUMNS)."""
    from typer.testing import CliRunner

    from poolstats import cli

    result = CliRunner().invoke(cli.app, list(args), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_poolstats_settings_shows_every_environment_variable_whole(columns: int) -> None:
    out = _cli("settings", columns=columns)
    names = set(re.findall(r"POOLSTATS_[A-Z0-9_]+", out))
    assert names == {env for _, env, _, _, _ in described()}  # none cut, none missing
    # only a name longer than the terminal itself may run past its edge
    assert all(len(line) <= columns for line in out.splitlines() if "POOLSTATS_" not in line)


@pytest.mark.parametrize(
    ("name", "default", "unit", "text"),
    [
        ("ingest_token", "", "", "empty"),
        ("port", 8080, "", "8080"),
        ("flush_interval_s", 10.0, "s", "10 s"),
        ("peer_timeout_s", 0.25, "s", "0.25 s"),
        ("stratum_max_diff", 2.0**40, "", "1099511627776"),
        ("max_body_bytes", 64 * 2**20, "bytes", "64 MiB"),
        ("stratum_spool_max_bytes", 4 * 2**30, "bytes", "4 GiB"),
        ("x_bytes", 2**40, "bytes", "1 TiB"),
        ("x_bytes", 1000, "bytes", "1000 bytes"),  # not a whole KiB: as it is
        ("x_bytes", 0, "bytes", "0 bytes"),
        ("smtp_starttls", True, "", "true"),
        ("data_dir", Path("/root/.local/share/poolstats"), "", "~/.local/share/poolstats"),
    ],
)
def test_defaults_read_as_people_write_them(
    name: str, default: object, unit: str, text: str
) -> None:
    assert default_text(name, default, unit) == text


def _help(*command: str) -> str:
    """--help on one line: runs of spaces and line breaks as one space (no-break spaces kept)."""
    return re.sub(r"[ \n]+", " ", _cli(*command, "--help", columns=200))


def test_help_never_shows_an_empty_or_raw_float_default() -> None:
    for command in (["serve"], ["stratum"], ["demo"], ["ingest"]):
        out = _help(*command)
        assert "Default: ." not in out and "Default: \xa0." not in out
        assert not re.search(r"Default: [0-9]+\.0(?![.0-9])", out), out
    serve = _help("serve")
    assert "Default: empty." in serve  # --ingest-token
    assert "Default: 1099511627776." in serve  # --stratum-max-diff
    assert "Default: 10\xa0s." in serve  # --flush-interval, never broken between 10 and s


def test_stratum_help_asks_for_its_port() -> None:
    out = _help("stratum")
    assert "no stratum server" not in out
    assert "Port miners connect to (required)." in out
