"""A small kustomize renderer for the offline tests: `render(path)` returns what
`kubectl kustomize path` returns for the features deploy/k8s uses, and refuses any other
(no kustomize binary here, and no Python one on PyPI that follows kustomize's semantics).

Supported, in kustomize's order (api/krusty/kusttarget.go): `resources` (files, or folders
holding a kustomization.yaml), then `components` (folders with `kind: Component`, applied to the
resources gathered so far), then the kustomization's own `patches` (strategic merge, or JSON 6902
when the patch is a list; `target` by kind, name (a regex, as in kustomize) and
labelSelector, else the patch's own kind/name), `namespace` and `images`. Anything else in a
kustomization is an error, so the test cannot pass over a feature it does not render."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonpatch
import yaml

KNOWN = {"apiVersion", "kind", "resources", "components", "patches", "namespace", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
#: the strategic-merge keys of the list fields our patches touch (k8s.io/api's patchMergeKey)
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}


class KustomizeError(Exception):
    pass


def _load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _kustomization(folder: Path) -> dict:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder}: no kustomization.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    unknown = set(data) - KNOWN
    if unknown:
        raise KustomizeError(f"{path}: fields this renderer does not support: {sorted(unknown)}")
    return data


def render(folder: Path | str) -> list[dict]:
    """The resources `kubectl kustomize folder` prints, in order."""
    return _build(Path(folder).resolve(), component=False)


def files_used(folder: Path | str) -> set[Path]:
    """Every file a rendering of `folder` reads (kustomizations, resources, patches)."""
    folder = Path(folder).resolve()
    used = {folder / "kustomization.yaml"}
    data = _kustomization(folder)
    for entry in data.get("resources", []) + data.get("components", []):
        target = (folder / entry).resolve()
        used |= files_used(target) if target.is_dir() else {target}
    for patch in data.get("patches", []):
        if "path" in patch:
            used.add((folder / patch["path"]).resolve())
    return used


def _build(folder: Path, component: bool, resources: list[dict] | None = None) -> list[dict]:
    data = _kustomization(folder)
    kind = data.get("kind", "Kustomization")
    if (kind == "Component") != component:
        raise KustomizeError(f"{folder}: a {kind} where a "
                             f"{'Component' if component else 'Kustomization'} belongs")
    out = list(resources or [])
    for entry in data.get("resources", []):
        target = (folder / entry).resolve()
        if target.is_dir():
            out += _build(target, component=False)
        elif target.is_file():
            out += _load_all(target)
        else:
            raise KustomizeError(f"{folder}: resource {entry} does not exist")
    _no_duplicates(out, folder)
    for entry in data.get("components", []):
        out = _build((folder / entry).resolve(), component=True, resources=out)
    for patch in data.get("patches", []):
        _apply_patch(out, patch, folder)
    if "namespace" in data:
        for doc in out:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = data["namespace"]
    for image in data.get("images", []):
        for doc in out:
            _set_image(doc, image)
    return out


def _id(doc: dict) -> tuple[str, str, str]:
    return doc["apiVersion"].split("/")[0], doc["kind"], doc["metadata"]["name"]


def _no_duplicates(docs: list[dict], folder: Path) -> None:
    seen = set()
    for doc in docs:
        if _id(doc) in seen:
            raise KustomizeError(f"{folder}: {_id(doc)} is defined twice")
        seen.add(_id(doc))


def _selected(doc: dict, target: dict) -> bool:
    if "kind" in target and doc["kind"] != target["kind"]:
        return False
    if "name" in target and not re.fullmatch(target["name"], doc["metadata"]["name"]):
        return False
    if "labelSelector" in target:
        labels = doc["metadata"].get("labels", {})
        for term in target["labelSelector"].split(","):
            key, _, value = term.partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
    unknown = set(target) - {"kind", "name", "labelSelector", "group", "version"}
    if unknown:
        raise KustomizeError(f"unsupported target fields {sorted(unknown)}")
    return True


def _apply_patch(docs: list[dict], entry: dict, folder: Path) -> None:
    text = (folder / entry["path"]).read_text(encoding="utf-8") if "path" in entry \
        else entry["patch"]
    body = yaml.safe_load(text)
    if isinstance(body, list):  # JSON 6902: needs a target
        if "target" not in entry:
            raise KustomizeError(f"{folder}: a JSON 6902 patch without target")
        matched = [d for d in docs if _selected(d, entry["target"])]
        patch = jsonpatch.JsonPatch(body)
        for doc in matched:
            patched = patch.apply(copy.deepcopy(doc))
            doc.clear()
            doc.update(patched)
    else:
        target = entry.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
        matched = [d for d in docs if _selected(d, target)]
        for doc in matched:
            merged = strategic_merge(doc, {k: v for k, v in body.items()
                                           if k not in ("apiVersion", "kind")}
                                     if "target" in entry else body)
            doc.clear()
            doc.update(merged)
    if not matched and "target" not in entry:  # kustomize: "failed to find unique target"
        raise KustomizeError(f"{folder}: patch {entry.get('path', '(inline)')} matches nothing")


def strategic_merge(original, patch):
    """Kubernetes' strategic merge for maps, lists of maps with a merge key (MERGE_KEYS) and
    `null` deleting a key; other lists are replaced."""
    if isinstance(original, dict) and isinstance(patch, dict):
        out = copy.deepcopy(original)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in MERGE_KEYS and isinstance(value, list) and key in out:
                out[key] = _merge_list(out[key], value, MERGE_KEYS[key])
            elif key in out:
                out[key] = strategic_merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def _merge_list(original: list, patch: list, key: str) -> list:
    out = copy.deepcopy(original)
    for item in patch:
        for index, existing in enumerate(out):
            if existing.get(key) == item.get(key):
                out[index] = strategic_merge(existing, item)
                break
        else:
            out.append(copy.deepcopy(item))
    return out


def _set_image(doc: dict, image: dict) -> None:
    spec = doc.get("spec", {})
    pods = [spec.get("template", {}).get("spec"),
            spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")]
    for pod in filter(None, pods):
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = (image.get("newName", name) + ":"
                                      + str(image.get("newTag", tag)))


if __name__ == "__main__":  # python -m tests.kustomize deploy/k8s/overlays/prod
    import sys

    print(yaml.safe_dump_all(render(sys.argv[1]), sort_keys=False, width=100), end="")
