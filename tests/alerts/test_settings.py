"""The alert settings from the environment, and the SMTP password kept out of sight."""

from __future__ import annotations

from typer.testing import CliRunner

from poolstats import cli
from poolstats.config import Settings


def test_alert_settings_from_the_environment() -> None:
    env = {
        "POOLSTATS_SMTP_HOST": "mail.example.com",
        "POOLSTATS_SMTP_PORT": "2525",
        "POOLSTATS_SMTP_STARTTLS": "false",
        "POOLSTATS_ALERT_RETRIES": "5",
        "POOLSTATS_ALERT_BACKOFF_S": "0.5",
        "POOLSTATS_ALERT_CHECK_S": "30",
    }
    s = Settings.from_env(env)
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls) == ("mail.example.com", 2525, False)
    assert (s.alert_retries, s.alert_backoff_s, s.alert_check_s) == (5, 0.5, 30.0)
    d = Settings.from_env({})
    assert (d.smtp_host, d.smtp_port, d.smtp_starttls, d.alert_check_s) == ("", 587, True, 60.0)


def test_poolstats_settings_masks_the_smtp_password() -> None:
    result = CliRunner().invoke(
        cli.app, ["settings"], env={"POOLSTATS_SMTP_PASSWORD": "smtp-s3cret"}
    )
    assert result.exit_code == 0
    assert "smtp-s3cret" not in result.stdout
