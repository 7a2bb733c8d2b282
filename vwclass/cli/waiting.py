"""Waiting with a progress bar: until a class is Ready (or Suspended), or until its namespaces are gone.

Progress goes to stderr, so a script reading stdout sees only results. A class whose problem needs a
person (a namespace name taken, a missing permission, an invalid spec) ends the wait at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vwclass.cli import durations, output
from vwclass.cli.errors import CliError, Exit
from vwclass.core.status import Stalled, condition

if TYPE_CHECKING:
    from rich.progress import Progress

    from vwclass.kube.api import Kube

Obj = dict[str, Any]
POLL_SECONDS = 1.0
# Stalled reasons that no amount of waiting fixes; StudentsFailing (an image pull backing off) may.
_HOPELESS = frozenset(reason.value for reason in Stalled if reason.hopeless)

WaitOption = Annotated[bool, typer.Option("--wait", help="Wait, with a progress bar, until the class is ready.")]
TimeoutOption = Annotated[
    str, typer.Option("--timeout", metavar="DURATION", help="How long --wait waits (e.g. 90s, 10m).")
]


def current(body: Obj) -> bool:
    """Whether the operator's status speaks about the class's latest spec."""
    return bool(body.get("status", {}).get("observedGeneration") == body["metadata"].get("generation"))


def is_ready(body: Obj) -> bool:
    return current(body) and condition(body.get("status"), "Ready").get("status") == "True"


def hopeless(body: Obj) -> str:
    """The Stalled message when waiting cannot help, else ''."""
    stalled = condition(body.get("status"), "Stalled")
    if current(body) and stalled.get("status") == "True" and stalled.get("reason") in _HOPELESS:
        return str(stalled.get("message", stalled.get("reason")))
    return ""


def not_ready_lines(body: Obj) -> list[str]:
    """The students not ready and why, as the operator reported them (status.notReady)."""
    status = body.get("status", {})
    if not status or not current(body):
        return ["the operator has not reported on this class's latest spec: is it running? (`vwclass doctor`)"]
    listed = status.get("notReady") or []
    lines = [f"  {entry.get('student')}: {entry.get('reason')}" for entry in listed]
    missing = status.get("students", {}).get("desired", 0) - status.get("students", {}).get("ready", 0) - len(listed)
    if missing > 0 and not body["spec"].get("suspended"):
        lines.append(f"  ... and {missing} more")
    return lines


@contextmanager
def _progress() -> Iterator[Progress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output.console(stderr=True),
        transient=False,
    ) as progress:
        yield progress


def wait_ready(kube: Kube, name: str, timeout: float) -> Obj:
    """Polls the class until Ready; CliError (exit 1) on a timeout or a hopeless Stalled class."""
    try:
        return _wait_ready(kube, name, timeout)
    except KeyboardInterrupt:
        output.note(f"stopped waiting; the operator carries on with class {name} (see `vwclass status {name}`)")
        raise


def _wait_ready(kube: Kube, name: str, timeout: float) -> Obj:
    from vwclass.kube.resources import CLASS

    deadline = time.monotonic() + timeout
    with _progress() as progress:
        task = progress.add_task(f"{name}: waiting for the operator", total=None)
        while True:
            body = kube.get(CLASS, name)
            if body is None:
                raise CliError(f"class {name!r} was deleted while waiting", Exit.FAILED)
            status = body.get("status", {})
            students = status.get("students", {})
            suspended = bool(body.get("spec", {}).get("suspended"))
            desired = int(students.get("desired", 0)) or None
            ready = int(students.get("ready", 0))
            phase = status.get("phase", "Pending") if current(body) else "Pending"
            label = "students scaled to zero" if suspended else "students ready"
            completed = (desired or 0) if suspended and is_ready(body) else ready
            description = f"{name}: {phase}, {label}"
            images = output.prepull_words(status.get("imagePrePull"))
            description += f" ({images})" if images else ""
            progress.update(task, description=description, total=desired, completed=completed)
            if is_ready(body):
                return body
            reason = hopeless(body)
            if reason:
                lines = "\n".join(not_ready_lines(body))
                raise CliError(f"class {name!r} cannot become ready: {reason}\n{lines}", Exit.FAILED)
            if time.monotonic() >= deadline:
                lines = "\n".join(not_ready_lines(body))
                raise CliError(
                    f"class {name!r} not ready after {durations.show(timeout)} ({phase}):\n{lines}", Exit.FAILED
                )
            time.sleep(POLL_SECONDS)


def wait_gone(description: str, remaining: Callable[[], int], total: int, timeout: float) -> None:
    """Polls remaining() until it is 0, showing how many of total are gone; CliError on a timeout."""
    deadline = time.monotonic() + timeout
    with _progress() as progress:
        task = progress.add_task(description, total=max(total, 1))
        while True:
            left = remaining()
            progress.update(task, completed=max(0, total - left) if total else (0 if left else 1))
            if left == 0:
                return
            if time.monotonic() >= deadline:
                raise CliError(
                    f"{description}: {left} of {total} still there after {durations.show(timeout)}", Exit.FAILED
                )
            time.sleep(POLL_SECONDS)
