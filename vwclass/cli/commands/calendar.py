"""`vwclass schedule` and `vwclass renew`: a class's lecture hours and its end, changed in place."""

from __future__ import annotations

from typing import Annotated

import typer

from vwclass.cli import session, waiting
from vwclass.cli.commands.change import apply_change
from vwclass.cli.errors import Exit, abort
from vwclass.cli.scheduleopts import ExpiryGraceOption, LeadTimeOption, TimeZoneOption, lifecycle_spec


def schedule(
    ctx: typer.Context,
    name: session.ClassArgument,
    lectures: Annotated[
        list[str] | None,
        typer.Argument(
            metavar='["DAYS HH:MM-HH:MM"]...',
            help='Lecture hours, e.g. "Mon,Wed 09:00-11:00" "Fri 13:00-14:30" (they replace the old ones).',
            show_default=False,
        ),
    ] = None,
    time_zone: TimeZoneOption = None,
    lead_time: LeadTimeOption = None,
    none: Annotated[
        bool, typer.Option("--none", help="Remove the schedule: the class runs whenever it is not suspended.")
    ] = False,
    wait: waiting.WaitOption = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Set a class's lecture hours, or remove them.

    Outside them the class is suspended with its data kept, and it resumes --lead-time before each lecture.
    """
    if none == bool(lectures):
        abort('give the lecture hours ("Mon,Wed 09:00-11:00" ...) or --none', Exit.BAD_INPUT)
    if none:
        change = {"schedule": None, **({"timeZone": time_zone} if time_zone else {})}
        apply_change(ctx, name, change, wait, timeout, "has no schedule: it runs whenever it is not suspended")
        return
    change = lifecycle_spec(lectures or [], time_zone, lead_time, None, None)
    hours = "; ".join(lectures or [])
    apply_change(ctx, name, change, wait, timeout, f"runs in lecture hours only: {hours}")


def renew(
    ctx: typer.Context,
    name: session.ClassArgument,
    expires: Annotated[
        str,
        typer.Option(
            "--expires",
            metavar="DATE",
            help="The new last day (YYYY-MM-DD) or RFC 3339 time, or `never`.",
            show_default=False,
        ),
    ],
    expiry_grace: ExpiryGraceOption = None,
    wait: waiting.WaitOption = False,
    timeout: waiting.TimeoutOption = "10m",
) -> None:
    """Move the end of a class: an expired one, not yet deleted, comes back with its data."""
    if expires == "never":
        apply_change(ctx, name, {"expires": None}, wait, timeout, "never expires")
        return
    change = lifecycle_spec([], None, None, expires, expiry_grace)
    apply_change(ctx, name, change, wait, timeout, f"expires {expires}")
