"""A small renderer of the kustomize subset deploy/k8s uses, so the tests can validate the
rendered manifests without a kustomize binary (none installs from the registries used here).

Supported: ``resources`` (files and directories), ``namespace``, ``images`` and ``patches``
with a ``target`` (kind, name) and an inline JSON 6902 ``patch``. Anything else is an error,
so a kustomization that uses more fails loudly instead of rendering wrongly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

_KNOWN = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
# Kinds that have no namespace.
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def render(directory: Path) -> list[dict[str, Any]]:
    """The manifests ``kubectl kustomize directory`` would print, for the supported subset."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - _KNOWN
    if unknown:
        raise ValueError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs.extend(render(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    docs = [copy.deepcopy(d) for d in docs]
    for patch in spec.get("patches", []):
        target = patch["target"]
        matched = [
            d
            for d in docs
            if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]
        ]
        if not matched:
            raise ValueError(f"{directory}: patch target {target} matches nothing")
        for doc in matched:
            for op in yaml.safe_load(patch["patch"]):
                _apply(doc, op)
    for image in spec.get("images", []):
        for doc in docs:
            for container in _containers(doc):
                name = container["image"].split(":")[0]
                if name == image["name"]:
                    new = image.get("newName", name)
                    container["image"] = f"{new}:{image['newTag']}"
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in _CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
    return docs


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def _apply(doc: dict[str, Any], op: dict[str, Any]) -> None:
    if op["op"] not in ("add", "replace"):
        raise ValueError(f"unsupported patch op {op['op']!r}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node: Any = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op["op"] == "add":
            node.insert(index, op["value"])
        else:
            node[index] = op["value"]
    else:
        if op["op"] == "replace" and last not in node:
            raise ValueError(f"replace of missing path {op['path']}")
        node[last] = op["value"]
