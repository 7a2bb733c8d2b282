"""Streams of a pod: its log as it is written (or its last lines), and a command run in one of its containers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from urllib3.exceptions import HTTPError

from vwclass.kube.api import ApiError, Kube, error_from
from vwclass.kube.resources import POD

# How long a followed log may stay silent: a plugin may publish once an hour.
_NO_READ_TIMEOUT = None


def _log_request(kube: Kube, namespace: str, pod: str, query: list[tuple[str, str]], timeout: Any) -> Any:
    """The open response to a GET of the pod's log (its body not yet read)."""
    api = kube.api_client
    try:
        method, url, headers, body, _ = api.param_serialize(
            "GET",
            POD.path(namespace, pod, "log"),
            query_params=query,
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        return api.call_api(method, url, headers, body, _request_timeout=timeout)
    except ApiException as exc:
        raise error_from(exc.status or 0, exc.reason or "", exc.body) from None
    except (HTTPError, OSError) as exc:
        raise ApiError(0, "ConnectionError", str(exc)) from None


def log(kube: Kube, namespace: str, pod: str, container: str, follow: bool) -> Iterator[bytes]:
    """The container's log in chunks as the API server sends them; with follow, until the container ends."""
    query = [("container", container)] + ([("follow", "true")] if follow else [])
    response = _log_request(kube, namespace, pod, query, (10, _NO_READ_TIMEOUT))
    if not 200 <= response.status < 300:
        raise error_from(response.status, response.reason or "", response.read())
    raw: Any = response.response
    try:
        yield from raw.stream(4096, decode_content=True)
    except (HTTPError, OSError) as exc:
        raise ApiError(0, "ConnectionError", str(exc)) from None
    finally:
        raw.release_conn()


def recent_log(
    kube: Kube, namespace: str, pod: str, container: str, lines: int, limit_bytes: int = 65536, timeout: float = 10.0
) -> str:
    """The last `lines` lines of the container's log (at most limit_bytes of it), as text."""
    query = [("container", container), ("tailLines", str(lines)), ("limitBytes", str(limit_bytes))]
    response = _log_request(kube, namespace, pod, query, timeout)
    raw: Any = response.response
    try:
        data: bytes = raw.read()
    except (HTTPError, OSError) as exc:
        raise ApiError(0, "ConnectionError", str(exc)) from None
    finally:
        raw.release_conn()
    if not 200 <= response.status < 300:
        raise error_from(response.status, response.reason or "", data)
    return data.decode("utf-8", "replace")


def execute(
    kube: Kube,
    namespace: str,
    pod: str,
    container: str,
    command: list[str],
    out: Callable[[str], None],
    err: Callable[[str], None],
) -> int:
    """Runs command in the container (no stdin, no terminal), passing its output on as it comes; its exit code."""
    core = client.CoreV1Api(kube.api_client)
    try:
        session: Any = stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=command,
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
    except ApiException as exc:
        raise error_from(exc.status or 0, exc.reason or "", exc.body) from None
    except (HTTPError, OSError) as exc:
        raise ApiError(0, "ConnectionError", str(exc)) from None
    try:
        while session.is_open():
            session.update(timeout=1)
            if session.peek_stdout():
                out(session.read_stdout())
            if session.peek_stderr():
                err(session.read_stderr())
        code = session.returncode
    finally:
        session.close()
    return int(code) if code is not None else 1
