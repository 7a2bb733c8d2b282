"""The `vwclass` command: registers the sub-commands; each lives in a module of its own."""

from __future__ import annotations

import typer

from vwclass import __version__

app = typer.Typer(no_args_is_help=True, help="Run classrooms of virtual Waggle nodes on Kubernetes.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vwclass {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Run classrooms of virtual Waggle nodes on Kubernetes."""


def main() -> None:
    app()
