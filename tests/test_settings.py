"""Settings are declared once and documented; the environment overrides the defaults."""

from __future__ import annotations

from pathlib import Path

from poolstats.cli import settings_markdown
from poolstats.config import Settings, described
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
