"""Settings are declared once and documented; the environment overrides the defaults."""

from __future__ import annotations

from pathlib import Path

from poolstats.cli import settings_markdown
from poolstats.config import Settings, described

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
