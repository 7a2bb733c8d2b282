"""HTTP to a student's node through the API server's proxy (services/NAME:PORT/proxy, pods/NAME:PORT/proxy).

The teacher reads each endpoint where it runs, with their own cluster credentials: nothing is opened
to the network, and the node's NetworkPolicies stay as they are. Answers come back as bytes, or
streamed into a file.

Every call here is a read, so a connection cut on its way (the proxy's pooled connection to the pod
closed under it, a pod restarting) is asked again, twice, before the error reaches the teacher.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from vwclass.kube.api import ApiError, Kube, error_from

CHUNK = 65536
ATTEMPTS = 3
RETRY_PAUSE = 0.5  # seconds, doubled after each failed attempt
T = TypeVar("T")


def service_path(namespace: str, service: str, port: str, path: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/services/{quote(service)}:{quote(port)}/proxy{path}"


def pod_path(namespace: str, pod: str, port: int | str, path: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}:{port}/proxy{path}"


@contextmanager
def _open(kube: Kube, method: str, path: str, body: Any, content_type: str, timeout: float) -> Iterator[Any]:
    api = kube.api_client
    try:
        method_, url, headers, payload, _ = api.param_serialize(
            method,
            path,
            header_params={"Content-Type": content_type, "Accept": "*/*"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(method_, url, headers, payload, _request_timeout=timeout)
    except ApiException as exc:
        raise error_from(exc.status or 0, exc.reason or "", exc.body) from None
    except (HTTPError, OSError) as exc:
        raise ApiError(0, "ConnectionError", str(exc)) from None
    raw: Any = response.response
    try:
        if not 200 <= response.status < 300:
            raise _proxy_error(response.status, response.reason or "", raw.read())
        yield raw
    except (HTTPError, OSError) as exc:
        raise ApiError(0, "ConnectionError", str(exc)) from None
    finally:
        raw.release_conn()


def _proxy_error(status: int, reason: str, body: bytes) -> ApiError:
    """The API server's Status, or the proxied server's own answer, as an ApiError of one line."""
    error = error_from(status, reason, body)
    if error.message.startswith(("b'", 'b"')) or "\n" in error.message:
        error.message = " ".join(body.decode("utf-8", "replace").split())[:300]
    return error


def _attempts(read: Callable[[], T], before_retry: Callable[[], None] = lambda: None, attempts: int = ATTEMPTS) -> T:
    """read(), again after a connection cut on its way (status 0); any answer of the server is final."""
    pause = RETRY_PAUSE
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except ApiError as error:
            if error.status != 0 or attempt == attempts:
                raise
        before_retry()
        time.sleep(pause)
        pause *= 2
    raise AssertionError("unreachable")


def request(
    kube: Kube,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    timeout: float = 60.0,
    attempts: int = ATTEMPTS,
) -> bytes:
    """The whole answer of a proxied read (a body is sent as JSON); an ApiError when the proxy or the
    server refuses."""

    def read() -> bytes:
        with _open(kube, method, path, body, content_type, timeout) as raw:
            data: bytes = raw.read()
            return data

    return _attempts(read, attempts=attempts)


def download(kube: Kube, path: str, into: IO[bytes], timeout: float = 300.0) -> int:
    """Streams a proxied GET into a file (from its start again after a cut); the bytes written."""
    start = into.tell()

    def read() -> int:
        written = 0
        with _open(kube, "GET", path, None, "application/json", timeout) as raw:
            for chunk in raw.stream(CHUNK, decode_content=True):
                into.write(chunk)
                written += len(chunk)
        return written

    def rewind() -> None:
        into.seek(start)
        into.truncate()

    return _attempts(read, rewind)
