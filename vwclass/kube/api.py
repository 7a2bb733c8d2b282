"""Kube: the few calls vwclass makes (server-side apply, create, get, list by label, delete, status).

Requests go through the official client's ApiClient as raw REST on the fixed resource table, so no
discovery round-trips; transient failures (429, 5xx, connection) are retried briefly with backoff.
Every write is counted, so tests can prove a resync of an unchanged class writes nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from vwclass.core import names
from vwclass.kube.resources import CLASS, Resource, resource_of

log = logging.getLogger("vwclass.kube")
Obj = dict[str, Any]
Page = list[Obj]  # named here: inside Kube, `list` is its method
_RETRIABLE = {429, 500, 502, 503, 504}


class ApiError(Exception):
    """A refused or failed request, with the API server's own status and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.message = status, reason, message
        super().__init__(f"{status} {reason}: {message}")

    @property
    def transient(self) -> bool:
        return self.status in _RETRIABLE or self.status == 0


def error_from(status: int, reason: str, body: bytes | str | None) -> ApiError:
    try:
        parsed = json.loads(body or "{}")
        return ApiError(status, parsed.get("reason", reason), parsed.get("message", str(body)))
    except (ValueError, AttributeError):
        return ApiError(status, reason, str(body))


def resource_of_path(path: str) -> str:
    """The resource (plural, with its subresource) a REST path names: "deployments", "pods/status"."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:] if parts[:1] == ["apis"] else parts
    if len(parts) > 2 and parts[0] == "namespaces":
        parts = parts[2:]
    if not parts:
        return ""
    return parts[0] + (f"/{parts[2]}" if len(parts) > 2 else "")


class Kube:
    """A thread-safe handle on one cluster."""

    def __init__(self, api_client: client.ApiClient, field_manager: str = names.FIELD_MANAGER) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        self.writes: Counter[str] = Counter()
        # The same writes by (verb, resource), e.g. ("PATCH", "deployments"): the operator's metrics.
        self.writes_by_resource: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    # -- transport ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        attempts: int = 4,
        timeout: float = 30.0,
    ) -> Obj:
        if method != "GET":
            resource = resource_of_path(path)
            with self._lock:
                self.writes[method] += 1
                self.writes_by_resource[(method, resource)] += 1
        delay = 0.2
        for attempt in range(attempts):
            try:
                method_, url, headers, payload, _ = self.api_client.param_serialize(
                    method,
                    path,
                    query_params=query or [],
                    header_params={"Content-Type": content_type, "Accept": "application/json"},
                    body=body,
                    auth_settings=["BearerToken"],
                )
                response = self.api_client.call_api(method_, url, headers, payload, _request_timeout=timeout)
                data = response.read()
                if 200 <= response.status < 300:
                    return json.loads(data) if data else {}
                error = error_from(response.status, response.reason or "", data)
            except ApiException as exc:
                error = error_from(exc.status or 0, exc.reason or "", exc.body)
            except (HTTPError, OSError) as exc:
                error = ApiError(0, "ConnectionError", str(exc))
            if not error.transient or attempt == attempts - 1:
                raise error
            # In the operator's log (INFO), so throttling (429) or an overloaded API server shows there; a
            # CLI user sees only the final error, on one line.
            log.info("%s %s: %s %s; retrying in %.1fs", method, path, error.status, error.reason, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # -- verbs ----------------------------------------------------------------------------------
    def apply(self, obj: Obj) -> Obj:
        """Server-side apply under our one field manager, taking over fields others changed."""
        resource = resource_of(obj)
        meta = obj["metadata"]
        return self.request(
            "PATCH",
            resource.path(meta.get("namespace"), meta["name"]),
            body=obj,
            query=[("fieldManager", self.field_manager), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    def replace(self, obj: Obj, resource_version: str) -> Obj:
        """A full update: removes what others added, which an apply leaves in place."""
        resource = resource_of(obj)
        meta = obj["metadata"]
        body = {**obj, "metadata": {**meta, "resourceVersion": resource_version}}
        return self.request(
            "PUT",
            resource.path(meta.get("namespace"), meta["name"]),
            body=body,
            query=[("fieldManager", self.field_manager)],
        )

    def create(self, obj: Obj) -> Obj | None:
        """Creates obj; None when it already exists (a create never overwrites)."""
        resource = resource_of(obj)
        try:
            return self.request(
                "POST",
                resource.path(obj["metadata"].get("namespace")),
                body=obj,
                query=[("fieldManager", self.field_manager)],
            )
        except ApiError as error:
            if error.status == 409:
                return None
            raise

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.request("GET", resource.path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(
        self, resource: Resource, label_selector: str = "", namespace: str | None = None, field_selector: str = ""
    ) -> list[Obj]:
        return [item for page in self.list_pages(resource, label_selector, namespace, field_selector) for item in page]

    def list_pages(
        self,
        resource: Resource,
        label_selector: str = "",
        namespace: str | None = None,
        field_selector: str = "",
        page_size: int = 0,
    ) -> Iterator[Page]:
        """A LIST, page_size items at a time (0: all in one), so a caller that keeps only part of each
        item never holds the whole answer of a big class at once."""
        query = [("labelSelector", label_selector)] if label_selector else []
        query += [("fieldSelector", field_selector)] if field_selector else []
        query += [("limit", str(page_size))] if page_size else []
        token = ""
        while True:
            paging = [("continue", token)] if token else []
            result = self.request("GET", resource.path(namespace), query=query + paging, timeout=120.0)
            items: Page = result.get("items", [])
            for item in items:  # list items come without these; callers compare whole objects
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
            token = (result.get("metadata") or {}).get("continue") or ""
            del result
            yield items
            if not token:
                return

    def delete(self, resource: Resource, name: str, namespace: str | None = None, uid: str | None = None) -> bool:
        """Deletes in the background; with uid, only that exact object (never a namesake)."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", resource.path(namespace, name), body=body)
        except ApiError as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    def merge_patch(
        self, resource: Resource, name: str, namespace: str | None, patch: Obj, uid: str = ""
    ) -> Obj | None:
        """A JSON merge patch (a None value removes a key); with uid, only that exact object. None when
        the object is gone (or was replaced by a namesake)."""
        if uid:
            patch = {**patch, "metadata": {**patch.get("metadata", {}), "uid": uid}}
        try:
            return self.request(
                "PATCH",
                resource.path(namespace, name),
                body=patch,
                query=[("fieldManager", self.field_manager)],
                content_type="application/merge-patch+json",
            )
        except ApiError as error:
            if error.status in (404, 409):
                return None
            raise

    def patch_class_status(self, name: str, status: Obj) -> Obj:
        return self.request(
            "PATCH",
            CLASS.path(None, name, "status"),
            body={"status": status},
            content_type="application/merge-patch+json",
        )
