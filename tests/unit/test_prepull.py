"""The image pre-pull DaemonSet a class renders, and its progress as status.imagePrePull says it."""

from __future__ import annotations

from typing import Any

from vwclass.core import names, prepull
from vwclass.core.spec import ClassSpec, parse_class


def make_class(**spec: Any) -> ClassSpec:
    spec.setdefault("students", 2)
    return parse_class({"metadata": {"name": "bio101", "uid": "u-1"}, "spec": spec})


def prepull_pod(
    cls: ClassSpec, initialized: bool = True, waiting: dict[str, str] | None = None, images_hash: str = ""
) -> dict[str, Any]:
    reasons = waiting or {}
    statuses = [
        {"image": image, "state": {"waiting": {"reason": reasons[image]}} if image in reasons else {}}
        for image in prepull.images(cls)
    ]
    return {
        "metadata": {
            "labels": {"app.kubernetes.io/name": names.PREPULL_COMPONENT, names.CLASS_LABEL: cls.name},
            "annotations": {names.IMAGES_HASH_ANNOTATION: images_hash or prepull.images_hash(cls)},
        },
        "status": {
            "conditions": [{"type": "Initialized", "status": "True" if initialized else "False"}],
            "initContainerStatuses": statuses,
        },
    }


def test_the_daemonset_pulls_every_image_of_a_students_node_once_placed_as_the_class() -> None:
    placement = {"nodeSelector": {"pool": "lab"}, "tolerations": [{"key": "lab", "operator": "Exists"}]}
    cls = make_class(placement=placement, images={"dataEndpoint": "registry.local/vwclass:1"})
    daemonset = prepull.daemonset(cls)
    assert (daemonset["metadata"]["namespace"], daemonset["metadata"]["name"]) == ("vwclass-system", "prepull-bio101")
    assert daemonset["metadata"]["labels"][names.CLASS_LABEL] == "bio101"
    pod = daemonset["spec"]["template"]["spec"]
    pulled = [c["image"] for c in pod["initContainers"]]
    assert pulled == list(prepull.images(cls))
    assert len(pulled) == len(set(pulled))
    assert {cls.images.rabbitmq, cls.images.workspace, "registry.local/vwclass:1"} <= set(pulled)
    assert all(c["command"] == ["/bin/true"] for c in pod["initContainers"])
    assert pod["containers"][0]["image"] == "registry.local/vwclass:1"
    assert (pod["nodeSelector"], pod["tolerations"]) == (placement["nodeSelector"], placement["tolerations"])
    # Pod Security "restricted", as vwclass-system enforces, with limits on every container.
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert set(container["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}


def test_only_the_images_of_the_components_switched_on_are_pulled() -> None:
    full = prepull.images(make_class(components={"playback": True}))
    lean = prepull.images(make_class(components={"dataSharingService": False}))
    assert make_class().images.playback_server in full
    assert make_class().images.data_sharing_service not in lean
    assert make_class().images.app_meta_cache not in lean


def test_a_change_of_image_changes_the_pods_template_so_every_node_pulls_again() -> None:
    before, after = make_class(), make_class(images={"rabbitmq": "rabbitmq:4.2"})
    assert prepull.images_hash(before) != prepull.images_hash(after)
    annotation = names.IMAGES_HASH_ANNOTATION
    template = prepull.daemonset(after)["spec"]["template"]["metadata"]["annotations"]
    assert template[annotation] == prepull.images_hash(after)
    # A change that touches no image (more students) pulls nothing again.
    assert prepull.images_hash(make_class(students=30)) == prepull.images_hash(before)


def test_progress_counts_the_nodes_holding_every_current_image() -> None:
    cls = make_class()
    daemonset = {"status": {"desiredNumberScheduled": 3}}
    pods = [prepull_pod(cls), prepull_pod(cls, initialized=False), prepull_pod(cls, images_hash="old")]
    progress = prepull.progress(cls, daemonset, pods)
    assert (progress.nodes, progress.pulled, progress.images) == (3, 1, len(prepull.images(cls)))
    assert progress.as_status() == {"images": progress.images, "nodes": 3, "pulled": 1, "summary": "1/3"}
    # Before the DaemonSet controller has counted the nodes, the pods do.
    assert prepull.progress(cls, None, pods[:2]).nodes == 2


def test_an_image_that_cannot_be_pulled_is_named_with_how_many_nodes() -> None:
    cls = make_class()
    bad = cls.images.rabbitmq
    pods = [prepull_pod(cls, False, {bad: "ImagePullBackOff"}), prepull_pod(cls, False, {bad: "ImagePullBackOff"})]
    progress = prepull.progress(cls, None, pods)
    assert progress.message == f"{bad}: ImagePullBackOff on 2 nodes"
    assert progress.as_status()["message"] == progress.message
    # What the operator could not do comes first.
    assert prepull.progress(cls, None, pods, "images not pre-pulled: no namespace").message.startswith("images not")


def test_pre_pull_is_on_unless_switched_off() -> None:
    assert make_class().image_prepull
    assert not make_class(imagePrePull=False).image_prepull


def test_the_cli_speaks_of_the_pre_pull_only_while_it_has_something_to_say() -> None:
    from vwclass.cli.output import prepull_words

    assert prepull_words({"nodes": 3, "pulled": 1}) == "pulling images: 1/3 nodes"
    assert prepull_words({"nodes": 0, "pulled": 0}) == "pulling images: 0/0 nodes"
    assert prepull_words({"nodes": 3, "pulled": 3}) == ""
    assert prepull_words(None) == ""
    assert prepull_words({"nodes": 3, "pulled": 1, "message": "x: ErrImagePull on 2 nodes"}) == (
        "images: x: ErrImagePull on 2 nodes"
    )
