"""The `vwclass` command: registers the sub-commands; each lives in a module of its own."""

from __future__ import annotations

from typing import Annotated

import typer

from vwclass import __version__
from vwclass.cli.boundary import VwclassGroup
from vwclass.cli.commands import (
    calendar,
    change,
    create,
    credentials,
    dashboard,
    doctor,
    install,
    operator,
    plugin,
    show,
    students,
    teacher,
)
from vwclass.cli.errors import EXIT_CODES_HELP
from vwclass.cli.session import Target

app = typer.Typer(
    cls=VwclassGroup,
    no_args_is_help=True,
    epilog=EXIT_CODES_HELP,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vwclass {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config).",
            show_default=False,
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            metavar="NAME",
            help="kubeconfig context (default: the current context).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Run classrooms of virtual Waggle nodes on Kubernetes.

    Every command talks to the cluster of your current kubeconfig context unless --kubeconfig or
    --context say otherwise.

    \b
    A class, start to finish:
      vwclass doctor                                  is the cluster ready? (each problem with its fix)
      vwclass install                                 the CRD and the operator, once per cluster
      vwclass create physics --students 30 --wait     a node per student, with a progress bar
        --schedule "Mon,Wed 09:00-11:00" --time-zone Europe/Berlin --expires 2027-02-28
                                                      up in lecture hours only; gone after the term
      vwclass credentials physics --out handout/      a kubeconfig and a note per student
      vwclass status physics                          who is ready, and why not
      vwclass data physics --since -1h                every student's measurements, one table
      vwclass report physics                          queues, stored, rejected: who is stuck
      vwclass collect physics --out week3/            records and files, a folder per student
      vwclass dashboard physics                       a live page: health, data, plugin logs
      vwclass delete physics                          everything goes, after you confirm

    \b
    A student, with the kubeconfig from `vwclass credentials`:
      vwclass newplugin hello                         a plugin template
      vwclass plugin run hello --dir hello            run it on your node, see its output
    """
    ctx.obj = Target(kubeconfig, context)


# Setting up the cluster.
app.command(rich_help_panel="Cluster")(doctor.doctor)
app.command(rich_help_panel="Cluster")(install.install)
app.command(rich_help_panel="Cluster")(install.uninstall)
app.command(rich_help_panel="Cluster")(operator.operator)
# Running classes.
app.command(rich_help_panel="Classes")(create.create)
app.command(name="list", rich_help_panel="Classes")(show.list_classes)
app.command(rich_help_panel="Classes")(show.status)
app.command(rich_help_panel="Classes")(change.scale)
app.command(rich_help_panel="Classes")(change.suspend)
app.command(rich_help_panel="Classes")(change.resume)
app.command(rich_help_panel="Classes")(calendar.schedule)
app.command(rich_help_panel="Classes")(calendar.renew)
app.command(rich_help_panel="Classes")(students.reset)
app.add_typer(students.roster_app, name="roster", rich_help_panel="Classes")
app.command(rich_help_panel="Classes")(change.delete)
app.command(rich_help_panel="Classes")(credentials.credentials)
app.command(rich_help_panel="Classes")(create.render)
# The class's work: data, collected files, who is stuck.
app.command(rich_help_panel="Class data")(teacher.data)
app.command(rich_help_panel="Class data")(teacher.collect)
app.command(rich_help_panel="Class data")(teacher.report)
app.command(rich_help_panel="Class data")(dashboard.dashboard)
# Students' plugins on their own node.
app.add_typer(plugin.app, name="plugin", rich_help_panel="Plugins")
app.command(rich_help_panel="Plugins")(plugin.newplugin)


def main() -> None:
    app()
