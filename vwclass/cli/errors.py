"""Exit codes and errors of the command line: every failure becomes one line on stderr and a code.

Commands raise CliError (through `abort`) or let the API layer's errors rise; the command boundary
(vwclass.cli.boundary) turns each into its line and exit code with `describe`, in one place.
"""

from __future__ import annotations

import enum
import re
import sys
from typing import NoReturn


class Exit(enum.IntEnum):
    """The exit codes `vwclass --help` documents; scripts may rely on them."""

    OK = 0
    FAILED = 1  # a check failed, a class did not become ready in time, a request failed
    BAD_INPUT = 2  # usage, an invalid class, a class that exists (create) or does not (others)
    UNREACHABLE = 3  # no usable kubeconfig, cluster unreachable, or vwclass not installed on it
    FORBIDDEN = 4  # the API server refused our credentials or denied a verb on a resource


# `\b` keeps click from re-wrapping the table in --help.
EXIT_CODES_HELP = (
    "\b\nExit codes:\n"
    "  0  ok\n"
    "  1  failed or not ready: a doctor check failed, a --wait timed out, a request failed\n"
    "  2  bad input: usage, an invalid class or roster, a class that exists (create) or does not\n"
    "  3  cluster unreachable, no usable kubeconfig, or vwclass not installed (`vwclass install`)\n"
    "  4  permission denied: the API server's message names the verb and resource"
)

NOT_INSTALLED = "vwclass is not installed on this cluster (no VirtualWaggleClass API): run `vwclass install`"


class CliError(Exception):
    """A failure we can explain in one line, with the exit code it leaves with."""

    def __init__(self, message: str, code: Exit = Exit.FAILED) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


def abort(message: str, code: Exit = Exit.FAILED) -> NoReturn:
    """Leaves the command with message on stderr and code (raised, so the boundary prints it)."""
    raise CliError(message, code)


def _clean(message: str) -> str:
    text = message.strip()
    if text[:2] in ("b'", 'b"') and text[-1:] in ("'", '"'):
        text = text[2:-1].replace("\\n", " ")
    return " ".join(text.split())


def _connection_cause(message: str) -> str:
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", message)
    if found:
        return found.group(1).strip().rstrip(".").lower()
    if "timed out" in message.lower():
        return "timed out"
    return _clean(message)[:200]


def from_api_error(status: int, reason: str, message: str, server: str = "") -> CliError:
    """The line for an API server's (or the connection's) failure."""
    text = _clean(message)
    if status == 0:
        where = f" at {server}" if server else ""
        return CliError(f"cannot reach the cluster{where}: {_connection_cause(message)}", Exit.UNREACHABLE)
    if status == 401:
        return CliError(
            f"the cluster refused your credentials (401 {reason}): check your kubeconfig; a token may have expired",
            Exit.FORBIDDEN,
        )
    if status == 403 and "because it is being terminated" in text:
        # Refused for the namespace's state, not the user's rights: it is still being deleted.
        return CliError(f"{text}: try again once it is gone", Exit.FAILED)
    if status == 403:
        return CliError(f"permission denied: {text}", Exit.FORBIDDEN)
    if status == 404 and text.startswith("404 page not found"):
        # A path the server does not serve at all: for us, the CRD's API group is missing.
        return CliError(NOT_INSTALLED, Exit.UNREACHABLE)
    if status in (400, 409, 422):
        return CliError(f"the API server refused the request: {text}", Exit.BAD_INPUT)
    return CliError(f"the API server answered {status} {reason}: {text}", Exit.FAILED)


def describe(error: BaseException, server: str = "") -> CliError | None:
    """The CliError for any error we can explain; None for a bug (which keeps its traceback)."""
    if isinstance(error, CliError):
        return error
    # Only modules already imported can have raised their errors: checking sys.modules keeps the
    # kubernetes client and the schema's CEL engine out of commands that never load them.
    schema = sys.modules.get("vwclass.core.schema")
    if schema is not None and isinstance(error, schema.InvalidClass):
        return CliError(f"invalid class: {error}", Exit.BAD_INPUT)
    api = sys.modules.get("vwclass.kube.api")
    if api is not None and isinstance(error, api.ApiError):
        return from_api_error(error.status, error.reason, error.message, server)
    config = sys.modules.get("kubernetes.config.config_exception")
    if config is not None and isinstance(error, config.ConfigException):
        if "No configuration found" in str(error):
            return CliError(
                "no kubeconfig found ($KUBECONFIG, ~/.kube/config): pass --kubeconfig FILE "
                "(on MicroK8s: `microk8s config > ~/.kube/config`)",
                Exit.UNREACHABLE,
            )
        return CliError(f"no usable kubeconfig: {error}", Exit.UNREACHABLE)
    return None
