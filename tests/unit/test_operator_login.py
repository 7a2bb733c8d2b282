"""The operator's login hands kopf the bare token, however the Kubernetes client wrote its header."""

from __future__ import annotations

import pytest

from vwclass.operator.handlers import bearer_token


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def", "abc.def"),  # from a kubeconfig
        ("bearer abc.def", "abc.def"),  # in a pod: the client's in-cluster loader writes lowercase
        ("  bearer   abc.def ", "abc.def"),
        ("abc.def", "abc.def"),  # a bare token stays as it is
        ("", None),
        ("Bearer ", None),
    ],
)
def test_the_token_is_taken_out_of_any_bearer_header(header: str, token: str | None) -> None:
    assert bearer_token(header) == token
