"""Output of the read commands: a rich table for people, JSON or YAML for scripts (`-o`)."""

from __future__ import annotations

import datetime
import enum
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


class DocumentFormat(enum.StrEnum):
    yaml = "yaml"
    json = "json"


OutputOption = Annotated[
    Format, typer.Option("--output", "-o", help="table for people; json or yaml for scripts.", case_sensitive=False)
]
DocumentOutputOption = Annotated[
    DocumentFormat, typer.Option("--output", "-o", help="YAML (for kubectl and GitOps) or JSON.", case_sensitive=False)
]

# Piped output is read by programs (awk, grep): one row per line, never folded to a width guess.
_UNBOUNDED_WIDTH = 4096


def console(stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (looked up now, so test runners can capture it)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 120
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None, wrap: int = 1) -> Table:
    """A plain table; only its last `wrap` columns wrap on a narrow terminal (names never do).

    str cells are shown as written, never read as rich markup: reasons hold brackets.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    result = Table(
        title=Text(title) if title else None,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for index, column in enumerate(columns):
        wraps = index >= len(columns) - wrap
        result.add_column(column, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis", min_width=len(column))
    for row in rows:
        result.add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in row))
    return result


def dump_yaml(documents: Sequence[Any]) -> str:
    """YAML documents separated by `---`, in the order given, keys in insertion order."""
    import yaml

    return "---\n".join(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for doc in documents)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def print_table(rendered: Table) -> None:
    """The table on stdout; piped, without colour or the padding that ends every line in spaces."""
    from rich.console import Console

    if sys.stdout.isatty():
        from rich.measure import Measurement

        screen = console()
        needed = Measurement.get(screen, screen.options.update_width(_UNBOUNDED_WIDTH), rendered).minimum
        if needed > screen.width:
            # Narrower than the table can be: let the terminal wrap lines rather than drop columns.
            screen = Console(file=sys.stdout, width=needed, highlight=False, soft_wrap=False)
        screen.print(rendered)
        return

    rendered.box = None  # kubectl's plain columns, two spaces apart, for awk and grep
    rendered.collapse_padding = False
    buffer = io.StringIO()
    Console(file=buffer, width=_UNBOUNDED_WIDTH, highlight=False, color_system=None).print(rendered)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    sys.stdout.write("\n".join(lines).strip("\n") + "\n")


def emit(data: Any, fmt: Format, as_table: Callable[[], Table]) -> None:
    """Prints data as JSON or YAML, or as_table() for the table format."""
    if fmt is Format.json:
        sys.stdout.write(dump_json(data))
    elif fmt is Format.yaml:
        sys.stdout.write(dump_yaml([data]))
    else:
        print_table(as_table())


def note(message: str) -> None:
    """A line for the person at the terminal, on stderr so stdout stays what a script parses."""
    print(message, file=sys.stderr)


def parse_time(timestamp: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        return None


def age(timestamp: str, now: datetime.datetime | None = None) -> str:
    """kubectl's short age: 45s, 12m, 3h, 5d (or '-' when unknown)."""
    then = parse_time(timestamp)
    if then is None:
        return "-"
    now = now or datetime.datetime.now(datetime.UTC)
    return _short(max(0, int((now - then).total_seconds())))


def until(timestamp: str, now: datetime.datetime | None = None) -> str:
    """How long until a time, as age() says it ('-' when unknown, 'now' once it has passed)."""
    then = parse_time(timestamp)
    if then is None:
        return "-"
    seconds = int((then - (now or datetime.datetime.now(datetime.UTC))).total_seconds())
    return f"in {_short(seconds)}" if seconds > 0 else "now"


def _short(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def prepull_words(block: dict[str, Any] | None) -> str:
    """status.imagePrePull as a teacher reads it, while it has something to say: 'pulling images: 1/3
    nodes', or why a pull fails; nothing once every node holds every image (or with no pre-pull)."""
    if not block:
        return ""
    if block.get("message"):
        return f"images: {block['message']}"
    nodes, pulled = int(block.get("nodes", 0)), int(block.get("pulled", 0))
    return "" if nodes and pulled >= nodes else f"pulling images: {pulled}/{nodes} nodes"
