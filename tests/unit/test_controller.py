"""The controller alone: fake reconciles on a virtual clock, so every timing is exact and nothing sleeps.

No API server is involved: the controller is handed a reconcile function and a list function, as the
operator hands it the real ones. The event loop's clock jumps to the next timer instead of waiting,
and each "thread" call runs at once and hands its result back `duration` virtual seconds later.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import selectors
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from vwclass.kube.api import ApiError
from vwclass.operator.controller import MAX_BACKOFF, TRANSIENT_BACKOFF, Controller


class _JumpingSelector(selectors.DefaultSelector):
    """Instead of sleeping until the next timer, moves the loop's clock to it."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is None:
            raise RuntimeError("nothing left to run: the scenario would wait forever")
        if not ready and timeout is not None and timeout > 0:
            self.loop.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


class VirtualExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call at once on the loop's thread; its result arrives `duration` virtual seconds later."""

    def __init__(self, loop: VirtualTimeLoop, duration: float) -> None:
        super().__init__(max_workers=1)
        self.loop, self.duration = loop, duration

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            self.loop.call_later(self.duration, future.set_exception, error)
        else:
            self.loop.call_later(self.duration, future.set_result, result)
        return future


@dataclass(frozen=True)
class Done:
    requeue_after: float | None = None
    writes: int = 0
    compared: bool = True


@dataclass
class FakeClasses:
    """The reconcile and list functions handed to the controller: each call recorded, outcomes scripted."""

    loop: VirtualTimeLoop
    classes: list[str] = field(default_factory=list)
    scripts: dict[str, list[Done | Exception]] = field(default_factory=dict)
    list_errors: list[Exception] = field(default_factory=list)
    calls: list[tuple[float, str]] = field(default_factory=list)
    compares: list[bool] = field(default_factory=list)  # each call's compare flag, in call order

    def reconcile(self, name: str, compare: bool) -> Done:
        self.calls.append((self.loop.time(), name))
        self.compares.append(compare)
        script = self.scripts.get(name)
        outcome = script.pop(0) if script else Done()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def list_classes(self) -> list[str]:
        if self.list_errors:
            raise self.list_errors.pop(0)
        return list(self.classes)

    def times(self, name: str) -> list[float]:
        return [when for when, called in self.calls if called == name]


Scenario = Callable[[Controller, FakeClasses], Awaitable[None]]


def run(
    scenario: Scenario,
    *,
    duration: float = 0.0,
    parallel_classes: int = 4,
    resync_seconds: float = 10_000.0,
    classes: tuple[str, ...] = (),
    scripts: dict[str, list[Done | Exception]] | None = None,
    list_errors: tuple[Exception, ...] = (),
) -> tuple[FakeClasses, Controller]:
    """Runs a scenario against a started controller on a virtual clock starting at 0."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, VirtualTimeLoop)
        loop.set_default_executor(VirtualExecutor(loop, duration))
        fake = FakeClasses(loop, list(classes), dict(scripts or {}), list(list_errors))
        controller = Controller(
            fake.reconcile, fake.list_classes, parallel_classes=parallel_classes, resync_seconds=resync_seconds
        )

        async def main() -> None:
            controller.start()
            try:
                await scenario(controller, fake)
            finally:
                await controller.stop()

        runner.run(main())
    return fake, controller


def gaps(times: list[float]) -> list[float]:
    return [round(later - earlier, 6) for earlier, later in itertools.pairwise(times)]


# -- one reconcile per class at a time ----------------------------------------------------------
def test_a_class_is_never_reconciled_twice_at_once_and_a_request_meanwhile_runs_once_after() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a")
        for when in (1, 2, 3):  # while a's first reconcile (10 s) runs
            await asyncio.sleep(when - fake.loop.time())
            controller.request("a")
        controller.request("b")
        await asyncio.sleep(100)

    fake, controller = run(scenario, duration=10.0)
    # a's requests during its run fold into one more reconcile, half a second after it ends; b runs
    # alongside a, as another class may.
    assert fake.calls == [(0.0, "a"), (3.0, "b"), (10.5, "a")]
    assert controller.reconciles == {"a": 2, "b": 1}


def test_no_more_classes_run_at_once_than_allowed() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        for name in ("a", "b", "c"):
            controller.request(name)
        await asyncio.sleep(100)

    fake, _ = run(scenario, duration=10.0, parallel_classes=2)
    # Timers due at the same moment fire in no set order: which class waits is not defined.
    assert [when for when, _ in fake.calls] == [0.0, 0.0, 10.0]
    assert sorted(name for _, name in fake.calls) == ["a", "b", "c"]


# -- coalescing ----------------------------------------------------------------------------------
def test_a_burst_of_requests_for_a_class_costs_one_reconcile_at_the_earliest_due_time() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        for _ in range(300):  # a class of 300 students becoming ready: one child event each
            controller.request("a", 1.0)
        controller.request("a", 5.0)  # later than already due: changes nothing
        controller.request("b", 5.0)
        controller.request("b", 0.5)  # sooner than already due: moves the one reconcile earlier
        await asyncio.sleep(100)

    fake, _ = run(scenario)
    assert fake.calls == [(0.5, "b"), (1.0, "a")]


# -- backoff -------------------------------------------------------------------------------------
def test_failures_back_off_doubling_up_to_the_cap_and_a_success_resets_it() -> None:
    refused = ApiError(422, "Invalid", "refused")  # not transient: waiting long is right
    script: list[Done | Exception] = [*[refused] * 8, Done(), refused, Done()]

    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a")
        await asyncio.sleep(1000)
        assert controller.failures["a"] == 0
        controller.request("a")  # a new change, long after the success
        await asyncio.sleep(1000)

    fake, controller = run(scenario, scripts={"a": script})
    times = fake.times("a")
    assert gaps(times[:9]) == [2.0, 4.0, 8.0, 16.0, 32.0, MAX_BACKOFF, MAX_BACKOFF, MAX_BACKOFF]
    # After the success the count starts again: the next failure waits 2 s, not the cap.
    assert times[9] == 1000.0
    assert gaps(times[9:]) == [2.0]
    assert controller.failures["a"] == 0
    assert controller.healthy() == {"reconciles": 2, "failing_classes": 0}


def test_an_unreachable_api_server_is_retried_often() -> None:
    unavailable = ApiError(503, "ServiceUnavailable", "the API server is restarting")

    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a")
        await asyncio.sleep(200)

    fake, _ = run(scenario, scripts={"a": [unavailable] * 6})
    assert gaps(fake.times("a")) == [
        2.0,
        4.0,
        TRANSIENT_BACKOFF,
        TRANSIENT_BACKOFF,
        TRANSIENT_BACKOFF,
        TRANSIENT_BACKOFF,
    ]


def test_a_reconcile_asking_to_be_requeued_runs_again_then() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a")
        await asyncio.sleep(100)

    fake, _ = run(scenario, scripts={"a": [Done(requeue_after=5.0, writes=3), Done(requeue_after=60.0)]})
    assert fake.times("a") == [0.0, 5.0, 65.0]


# -- what a reconcile compares -------------------------------------------------------------------
def test_a_reconcile_compares_when_any_request_since_the_last_one_began_asked_it_to() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a", compare=False)  # a pod's status: state only
        await asyncio.sleep(1)
        controller.request("a", 1.0, compare=False)
        controller.request("a", 1.0, compare=True)  # an edited Service among the status updates
        await asyncio.sleep(2)
        controller.request("a", 1.0, compare=False)
        await asyncio.sleep(100)

    fake, controller = run(scenario)
    assert fake.compares == [False, True, False]
    assert controller.comparisons == {"a": 3}  # the fake's outcomes all say they compared


def test_a_request_to_compare_during_a_reconcile_is_kept_for_the_one_after() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a", compare=False)
        await asyncio.sleep(3)  # the state pass (10 s) runs
        controller.request("a", compare=True)
        await asyncio.sleep(100)

    fake, _ = run(scenario, duration=10.0)
    assert fake.calls == [(0.0, "a"), (10.5, "a")]
    assert fake.compares == [False, True]


def test_requeues_leave_the_choice_to_the_reconcile_and_a_retry_compares() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("a")
        await asyncio.sleep(100)

    script: list[Done | Exception] = [Done(requeue_after=5.0), ApiError(500, "InternalError", "x"), Done()]
    fake, controller = run(scenario, scripts={"a": script})
    # The requeue after the first pass asks no comparison (the reconcile knows what it left undone);
    # the retry after a failure does, since the failed pass may have stopped half-way.
    assert fake.compares == [True, False, True]
    assert controller.comparisons == {"a": 2}  # the failed pass is not counted


# -- resync --------------------------------------------------------------------------------------
def test_every_class_is_reconciled_at_each_resync_without_any_request() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        await asyncio.sleep(250)

    fake, _ = run(scenario, resync_seconds=100.0, classes=("a", "b"))
    assert sorted(fake.calls) == [(100.0, "a"), (100.0, "b"), (200.0, "a"), (200.0, "b")]


def test_a_resync_that_cannot_list_tries_again_at_the_next_one() -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        await asyncio.sleep(250)

    fake, _ = run(
        scenario,
        resync_seconds=100.0,
        classes=("a",),
        list_errors=(ApiError(0, "ConnectionError", "connection refused"),),
    )
    assert fake.calls == [(200.0, "a")]


# -- terminal errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "error",
    [ApiError(403, "Forbidden", "the operator lacks a permission"), RuntimeError("a bug in a reconcile")],
    ids=["refused", "bug"],
)
def test_a_class_that_keeps_failing_backs_off_to_the_cap_and_holds_no_other_class_up(error: Exception) -> None:
    async def scenario(controller: Controller, fake: FakeClasses) -> None:
        controller.request("broken")
        controller.request("fine")
        await asyncio.sleep(300)
        assert controller.healthy() == {"reconciles": 1, "failing_classes": 1}
        controller.request("fine")
        await asyncio.sleep(1)

    fake, controller = run(scenario, scripts={"broken": [error] * 20})
    broken = fake.times("broken")
    assert gaps(broken) == [2.0, 4.0, 8.0, 16.0, 32.0, MAX_BACKOFF, MAX_BACKOFF, MAX_BACKOFF][: len(broken) - 1]
    assert max(gaps(broken)) == MAX_BACKOFF  # it kept being retried, never given up on
    assert fake.times("fine") == [0.0, 300.0]
    assert controller.reconciles["broken"] == 0
    assert controller.failures["broken"] == len(broken)
