"""``poolstats settings``: every setting with its environment variable, default and current
value (secrets shown as ***), as a table or, with --markdown, as the table of
docs/settings.md."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from poolstats.cli.common import load_settings
from poolstats.config import default_text, described

_SECRET_SETTINGS = frozenset(
    {"bitcoind_password", "ingest_token", "smtp_password"}
)  # `poolstats settings` shows *** for them
SETTINGS_TABLE_MIN_WIDTH = 150  # narrower: one block per setting, names never cut


def show_settings(
    markdown: Annotated[bool, typer.Option(help="Print the table of docs/settings.md")] = False,
) -> None:
    """List every setting with its environment variable, default and current value."""
    if markdown:
        print(settings_markdown(), end="")
        return
    current = load_settings()
    out = Console()
    rows = []
    for name, env, default, unit, text in described():
        value = getattr(current, name)
        shown = "***" if name in _SECRET_SETTINGS and value else default_text("", value, unit)
        if name == "store_url" and value:  # a URL may hold a password: show all but that
            shown = _without_password(value)
        rows.append((name, env, default_text(name, default, unit), shown, text))
    if out.width >= SETTINGS_TABLE_MIN_WIDTH:
        table = Table("environment", "setting", "default", "current", "help")
        for column in table.columns[:3]:  # what a reader copies stays whole; help folds
            column.no_wrap = True
        for row in rows:
            table.add_row(*(Text(cell) for cell in (row[1], *row[:1], *row[2:])))
        out.print(table)
        return
    # The environment variable is what this command exists to show: on a line of its own,
    # never cut or folded, however narrow the terminal.
    for name, env, default, shown, text in rows:
        out.print(Text(env, style="bold"), Text(f"({name})", style="dim"), soft_wrap=True)
        out.print(Padding(Text(text), (0, 0, 0, 2)))
        out.print(Padding(Text(f"default: {default}   current: {shown}"), (0, 0, 1, 2)))


def _without_password(url: str) -> str:
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "***"  # not a URL: show nothing of it


def settings_markdown() -> str:
    lines = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, env, default, unit, text in described():
        shown = f"`{default_text(name, default, unit)}`" if default != "" else "*empty*"
        lines.append(f"| `{name}` | `{env}` | {shown} | {text} |")
    return "\n".join(lines) + "\n"
