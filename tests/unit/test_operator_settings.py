"""The operator's settings that are pure values: the API retry delays, the watches' filters."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import cast

from vwclass.operator.handlers import RetryForever


def test_api_retries_never_run_out_and_start_over_for_every_request() -> None:
    delays = RetryForever()
    first = list(itertools.islice(delays, 1000))
    assert len(first) == 1000  # kopf's default stops after 8: a watch would then be given up for good
    assert sum(first) > 3600  # an hour of outage is waited out
    assert max(first) <= 10  # ...checking often enough to be back within seconds of the API server
    assert list(itertools.islice(delays, 5)) == first[:5]  # kopf iterates it afresh for each request


def test_child_watches_are_filtered_by_label_on_the_server_and_the_class_watch_is_not() -> None:
    import asyncio

    import kopf
    from kubernetes.client import ApiClient

    from vwclass.core import names
    from vwclass.kube.api import Kube
    from vwclass.operator import handlers

    settings = kopf.OperatorSettings()
    memo = kopf.Memo(kube=Kube(ApiClient()), resync_seconds=3600.0)

    # kopf's decorators type the handlers as kopf calls them (every kwarg); called here with those used.
    start = cast(Callable[..., Awaitable[None]], handlers.start)
    stop = cast(Callable[..., Awaitable[None]], handlers.stop)

    async def start_and_stop() -> None:
        await start(settings=settings, memo=memo)
        await stop(memo=memo)

    asyncio.run(start_and_stop())

    def selectors(group: str, version: str, plural: str) -> list[str]:
        resource = kopf.Resource(group, version, plural, namespaced=plural != "namespaces")
        return list(settings.watching.label_selectors.collect(resource))

    wanted = f"{names.MANAGED_BY}={names.MANAGED_BY_VALUE},{names.CLASS_LABEL}"
    # Pods of any manager, the students' plugin pods too: their activity (spec.idleTimeout).
    assert selectors("", "v1", "pods") == [names.CLASS_LABEL]
    assert selectors("apps", "v1", "daemonsets") == [wanted]
    assert selectors("", "v1", "namespaces") == [wanted]
    assert selectors("apps", "v1", "deployments") == [wanted]
    assert selectors(names.GROUP, names.VERSION, names.PLURAL) == []  # every class is ours


def test_kopf_keeps_a_diff_base_of_the_class_only_not_of_each_child_event() -> None:
    import kopf

    from vwclass.core import names
    from vwclass.operator.handlers import ClassDiffBaseStorage

    storage = ClassDiffBaseStorage(prefix=names.GROUP, key="last-handled-configuration")
    cls = kopf.Body(
        {"apiVersion": names.API_VERSION, "kind": names.KIND, "metadata": {"name": "c"}, "spec": {"students": 3}}
    )
    pod = kopf.Body({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}})
    assert storage.build(body=cls) == {"spec": {"students": 3}}
    assert storage.build(body=pod) == {}
    assert storage.fetch(body=pod) is None
