"""The command boundary: runs a command and turns whatever it raised into one stderr line and an exit code.

It is the click group of `vwclass` itself, so the same path serves the installed script, `python -m`
and typer's CliRunner in tests: usage errors, CliError, the API layer's errors and the kubeconfig
loader's errors each leave as `error: ...` with the code of vwclass.cli.errors.Exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click; no public name
from typer.core import TyperGroup

from vwclass.cli import errors, session
from vwclass.cli.errors import Exit


def _usage_line(error: typer.TyperException) -> str:
    message = error.format_message()
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message


def run_guarded(
    main: Any, args: Sequence[str] | None, prog_name: str | None, complete_var: str | None, extra: dict[str, Any]
) -> int:
    """Runs typer's main in non-standalone mode; the exit code of anything it raised."""
    try:
        result = main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        return int(result) if isinstance(result, int) else Exit.OK
    except NoArgsIsHelpError as error:  # bare `vwclass` or a bare group: the help is the answer
        error.show()
        return Exit.BAD_INPUT
    except typer.TyperException as error:  # click's usage errors (missing argument, bad choice...)
        print(f"error: {_usage_line(error)}", file=sys.stderr)
        return int(getattr(error, "exit_code", Exit.BAD_INPUT))
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return Exit.FAILED
    except Exception as error:
        explained = errors.describe(error, session.last_server())
        if explained is None:
            if os.environ.get("VWCLASS_DEBUG"):
                raise
            # A bug: still one line, and the traceback one variable away.
            print(
                f"error: internal error ({type(error).__name__}: {error}); set VWCLASS_DEBUG=1 for the traceback",
                file=sys.stderr,
            )
            return Exit.FAILED
        print(f"error: {explained.message}", file=sys.stderr)
        return int(explained.code)


class VwclassGroup(TyperGroup):
    """typer's group, with every failure reported by run_guarded instead of a usage box or traceback."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = run_guarded(super().main, args, prog_name, complete_var, extra)
        if standalone_mode:
            sys.stdout.flush()
            sys.exit(code)
        return code
