"""The operator's settings for kopf that are pure values: the API retry delays."""

from __future__ import annotations

import itertools

from vwclass.operator.handlers import RetryForever


def test_api_retries_never_run_out_and_start_over_for_every_request() -> None:
    delays = RetryForever()
    first = list(itertools.islice(delays, 1000))
    assert len(first) == 1000  # kopf's default stops after 8: a watch would then be given up for good
    assert sum(first) > 3600  # an hour of outage is waited out
    assert max(first) <= 10  # ...checking often enough to be back within seconds of the API server
    assert list(itertools.islice(delays, 5)) == first[:5]  # kopf iterates it afresh for each request
