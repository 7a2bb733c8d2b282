"""A proxied read cut on its way is asked again; an answer of the server, or a third cut, is final."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from vwclass.kube import proxy
from vwclass.kube.api import ApiError


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy, "RETRY_PAUSE", 0.0)


def failing(*errors: ApiError, answer: bytes = b"ok") -> tuple[list[int], Callable[[], bytes]]:
    calls: list[int] = []

    def read() -> bytes:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return answer

    return calls, read


def cut() -> ApiError:
    return ApiError(0, "ConnectionError", "IncompleteRead(0 bytes read)")


def test_two_cuts_then_an_answer_return_the_answer() -> None:
    calls, read = failing(cut(), cut())
    assert proxy._attempts(read) == b"ok"
    assert len(calls) == 3


def test_a_third_cut_reaches_the_caller() -> None:
    calls, read = failing(cut(), cut(), cut())
    with pytest.raises(ApiError, match="IncompleteRead"):
        proxy._attempts(read)
    assert len(calls) == 3


def test_an_answer_of_the_server_is_not_asked_again() -> None:
    calls, read = failing(ApiError(503, "ServiceUnavailable", "no endpoints available for service"))
    with pytest.raises(ApiError, match="no endpoints"):
        proxy._attempts(read)
    assert len(calls) == 1


class Stream:
    """The raw answer of a proxied GET whose connection is cut after `cut_after` chunks (None: never)."""

    def __init__(self, chunks: list[bytes], cut_after: int | None) -> None:
        self.chunks, self.cut_after = chunks, cut_after

    def stream(self, size: int, decode_content: bool) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.cut_after:
                raise cut()
            yield chunk


def test_a_download_cut_halfway_writes_the_whole_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(
        [Stream([b"first half ", b"second half"], cut_after=1), Stream([b"first half ", b"second half"], None)]
    )

    @contextmanager
    def opened(*args: Any) -> Iterator[Stream]:
        yield next(answers)

    monkeypatch.setattr(proxy, "_open", opened)
    into = io.BytesIO()
    into.write(b"header:")  # a file the caller had begun keeps what came before
    assert proxy.download(None, "/api/v1/namespaces/a/services/b:http/proxy/f", into) == 22  # type: ignore[arg-type]
    assert into.getvalue() == b"header:first half second half"
