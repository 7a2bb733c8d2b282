"""HTTP to a student's node through the API server's proxy (services/NAME:PORT/proxy, pods/NAME:PORT/proxy).

The teacher reads each endpoint where it runs, with their own cluster credentials: nothing is opened
to the network, and the node's NetworkPolicies stay as they are. Answers come back as bytes, or
streamed into a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from vwclass.kube.api import ApiError, Kube, error_from

CHUNK = 65536


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


def request(
    kube: Kube,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    timeout: float = 60.0,
) -> bytes:
    """The whole answer of a proxied request (a body is sent as JSON); an ApiError when the proxy or the
    server refuses."""
    with _open(kube, method, path, body, content_type, timeout) as raw:
        data: bytes = raw.read()
        return data


def download(kube: Kube, path: str, into: IO[bytes], timeout: float = 300.0) -> int:
    """Streams a proxied GET into a file; the bytes written."""
    written = 0
    with _open(kube, "GET", path, None, "application/json", timeout) as raw:
        for chunk in raw.stream(CHUNK, decode_content=True):
            into.write(chunk)
            written += len(chunk)
    return written
