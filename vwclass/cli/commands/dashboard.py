"""`vwclass dashboard`: a live web page of a class on the teacher's machine, until Ctrl-C.

The page (vwclass.cli.dashboard) shows every student's node health, a plot of their recent data, their
latest values and their newest plugin's last log lines, read with the teacher's own kubeconfig.
"""

from __future__ import annotations

import errno
import socket
import time
from typing import TYPE_CHECKING, Annotated

import typer

from vwclass.cli import output, session
from vwclass.cli.errors import CliError, Exit, abort

if TYPE_CHECKING:
    from vwclass.kube.api import Kube

DEFAULT_PORT = 8765


def dashboard(
    ctx: typer.Context,
    class_name: session.ClassArgument,
    address: Annotated[
        str,
        typer.Option(
            "--address", metavar="ADDRESS", help="Where to listen: this machine only, unless you say otherwise."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="The port; 0 picks a free one.")
    ] = DEFAULT_PORT,
    since: Annotated[
        str, typer.Option("--since", metavar="TIME", help="How far back the plots go: -1h, -30m, -2d.")
    ] = "-1h",
    points: Annotated[
        int, typer.Option("--points", metavar="N", min=1, max=1000, help="Points per measurement name on a plot.")
    ] = 60,
    open_browser: Annotated[bool, typer.Option("--open/--no-open", help="Open the page in your browser.")] = False,
) -> None:
    """A live page of the class on this machine: every student's node health, a plot of their recent
    data, their latest values and their plugin's log, updated every few seconds. Runs until Ctrl-C.

    \b
      vwclass dashboard physics101                  http://127.0.0.1:8765/
      vwclass dashboard physics101 --port 0 --open  a free port, opened in your browser
    """
    from vwclass.core import classdata

    try:
        classdata.query_document(since, None, time.time_ns())
    except classdata.InvalidQuery as error:
        abort(str(error), Exit.BAD_INPUT)
    kube = session.connect(ctx)
    _check_class(kube, class_name)

    from vwclass.cli.dashboard.gather import Refresher
    from vwclass.cli.dashboard.server import DashboardServer

    refresher = Refresher(kube, class_name, since=since, points=points)
    try:
        server = DashboardServer((address, port), refresher.snapshot)
    except OSError as error:
        abort(listen_problem(address, port, error), Exit.BAD_INPUT)
    try:
        refresher.start()
        typer.echo(f"dashboard of class {class_name}: {server.url} (Ctrl-C stops it)")
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        output.note("dashboard stopped")
    finally:
        refresher.stop()
        server.server_close()


def _check_class(kube: Kube, class_name: str) -> None:
    """Leaves with one line when the class does not exist or cannot be read as a class."""
    from vwclass.core.schema import InvalidClass
    from vwclass.core.spec import parse_class

    try:
        parse_class(session.get_class(kube, class_name))
    except InvalidClass as invalid:
        raise CliError(
            f"class {class_name!r} has an invalid spec, which the operator reports as Stalled: {invalid}", Exit.FAILED
        ) from None


def listen_problem(address: str, port: int, error: OSError) -> str:
    """The line for an --address and --port the server cannot listen on, naming the option to change."""
    where = f"{address}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"--port {port}: {where} is in use: choose another port (--port 0 picks a free one)"
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(error, socket.gaierror):
        return f"--address {address}: cannot listen there: {error.strerror or error}"
    return f"cannot listen on {where}: {error.strerror or error}"
