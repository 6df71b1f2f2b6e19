"""tests/kustomize.py renders as kustomize does for the features deploy/k8s uses, and refuses
what it does not render (so the manifest tests cannot pass over a feature silently)."""

from __future__ import annotations

import pytest
import yaml

from tests.kustomize import KustomizeError, render, strategic_merge


def _write(folder, name, data):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "a", "labels": {"tier": "back"}},
              "spec": {"template": {"spec": {"containers": [
                  {"name": "a", "image": "app:1", "env": [{"name": "X", "value": "1"}]}]}}}}


@pytest.fixture
def tree(tmp_path):
    _write(tmp_path / "base", "deployment.yaml", DEPLOYMENT)
    _write(tmp_path / "base", "kustomization.yaml", {
        "resources": ["deployment.yaml"], "components": ["../component"]})
    _write(tmp_path / "component", "kustomization.yaml", {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component",
        "patches": [{"target": {"kind": "Deployment", "labelSelector": "tier=back"},
                     "patch": yaml.safe_dump([
                         {"op": "add", "path": "/spec/template/spec/containers/0/env/0",
                          "value": {"name": "FIRST", "value": "0"}}])}]})
    _write(tmp_path / "overlay", "kustomization.yaml", {
        "resources": ["../base"], "namespace": "ns",
        "patches": [{"path": "smp.yaml"}],
        "images": [{"name": "app", "newName": "reg/app", "newTag": "2"}]})
    _write(tmp_path / "overlay", "smp.yaml", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "a", "env": [{"name": "X", "value": "2"}, {"name": "Y", "value": "3"}]}]}}}})
    return tmp_path


def test_components_then_patches_then_namespace_and_images(tree):
    (doc,) = render(tree / "overlay")
    assert doc["metadata"]["namespace"] == "ns"
    assert doc["spec"]["replicas"] == 3
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "reg/app:2"
    # the component's JSON 6902 insert, then the strategic merge by name (X replaced, Y added)
    assert container["env"] == [{"name": "FIRST", "value": "0"}, {"name": "X", "value": "2"},
                                {"name": "Y", "value": "3"}]


def test_an_unsupported_field_is_refused(tree):
    _write(tree / "overlay", "kustomization.yaml", {"resources": ["../base"],
                                                    "commonLabels": {"a": "b"}})
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tree / "overlay")


def test_a_patch_naming_nothing_is_refused(tree):
    _write(tree / "overlay", "smp.yaml", {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": "missing"}, "spec": {}})
    with pytest.raises(KustomizeError, match="matches nothing"):
        render(tree / "overlay")


def test_strategic_merge_deletes_with_null_and_replaces_plain_lists():
    merged = strategic_merge({"a": 1, "b": [1, 2], "c": {"d": 1}}, {"a": None, "b": [3],
                                                                     "c": {"e": 2}})
    assert merged == {"b": [3], "c": {"d": 1, "e": 2}}
