"""A reconcile reads a big class in pages: every object comes back once, whatever the page size."""

from __future__ import annotations

import pytest

from tests.support.kube import unique
from vwclass.kube.api import Kube
from vwclass.kube.resources import CONFIGMAP, NAMESPACE

pytestmark = pytest.mark.cluster


def test_a_list_read_in_pages_returns_every_object_once(kube: Kube) -> None:
    namespace = unique("paged")
    label = unique("batch")
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        for index in range(5):
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cm-{index}", "namespace": namespace, "labels": {"batch": label}},
                }
            )
        pages = list(kube.list_pages(CONFIGMAP, f"batch={label}", namespace, page_size=2))
        assert [len(page) for page in pages] == [2, 2, 1]
        names = [o["metadata"]["name"] for page in pages for o in page]
        assert sorted(names) == [f"cm-{i}" for i in range(5)]
        assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for page in pages for o in page)
        assert sorted(o["metadata"]["name"] for o in kube.list(CONFIGMAP, f"batch={label}", namespace)) == sorted(names)
    finally:
        kube.delete(NAMESPACE, namespace)
