"""The deployment files stay deployable: every Kubernetes manifest validates strictly against the
offline schemas, every service has its Deployment and container, and the pieces refer to each
other correctly (selectors, Secrets, ConfigMaps, the migrate Job). No cluster or Docker needed."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared import SERVICES

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes we support and the newest the validator knows.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# The schemas accept any string as a quantity; the API server does not.
QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$")


def _class_name(service: str) -> str:
    return service[0].upper() + service[1:] + "Service"


def _entrypoint(service: str) -> str:
    return f"services.{service}.service:{_class_name(service)}"


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


MANIFEST_FILES = sorted(K8S.rglob("*.yaml"))
RESOURCES = [
    (path, doc)
    for path in MANIFEST_FILES
    for doc in _documents(path)
    if doc.get("kind") != "Kustomization"
]


def _of_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in RESOURCES if doc["kind"] == kind}


def _deployment_for(service: str) -> dict:
    deployments = _of_kind("Deployment")
    assert f"simasn-{service}" in deployments, f"no Deployment simasn-{service} in deploy/k8s"
    return deployments[f"simasn-{service}"]


def _pod_specs():
    for _, doc in RESOURCES:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def test_manifests_exist():
    assert MANIFEST_FILES, "deploy/k8s holds no YAML"
    assert len(RESOURCES) >= len(SERVICES) + 1


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "path, doc",
    RESOURCES,
    ids=[f"{p.relative_to(K8S)}:{d['kind']}/{d['metadata']['name']}" for p, d in RESOURCES],
)
def test_manifest_validates_strictly(path, doc, version):
    """Strict: an unknown or misspelt field fails; an unknown kind fails too (the command line
    tool only warns about those)."""
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{path.relative_to(ROOT)} {doc['kind']}: {where}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{path.relative_to(ROOT)}: {exc.message}")


def test_every_resource_is_namespaced_in_simasn():
    for path, doc in RESOURCES:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "simasn"
        else:
            assert doc["metadata"].get("namespace") == "simasn", f"{path.name}: {doc['kind']}"


def test_kustomizations_list_every_manifest():
    """Each manifest is applied by exactly one kustomization, except the Secret example."""
    listed: list[Path] = []
    for path in K8S.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text(encoding="utf-8"))
        for resource in kustomization["resources"]:
            target = (path.parent / resource).resolve()
            assert target.is_file(), f"{path.relative_to(ROOT)} lists missing {resource}"
            listed.append(target)
    assert len(listed) == len(set(listed)), "a manifest is listed twice"
    expected = {p.resolve() for p in MANIFEST_FILES
                if p.name not in ("kustomization.yaml", "secret.example.yaml")}
    assert set(listed) == expected


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_deployment(service):
    deployment = _deployment_for(service)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    assert container["command"][:2] == ["nameko", "run"]
    assert container["command"][-1] == _entrypoint(service)
    module = importlib.import_module(f"services.{service}.service")
    assert getattr(module, _class_name(service)).name == service
    assert container["resources"]["requests"] and container["resources"]["limits"]
    for probe in ("readinessProbe", "livenessProbe"):
        if service == "gateway":
            assert container[probe]["httpGet"]["path"] == "/health"
        else:
            assert container[probe]["exec"]["command"] == [
                "simasn", "health", "--service", service]


def test_resources_are_valid_quantities():
    for name, pod in _pod_specs():
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"requests", "limits"} <= resources.keys(), name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources[bound].keys(), f"{name} {bound}"
                for quantity in resources[bound].values():
                    assert QUANTITY.match(str(quantity)), f"{name}: bad quantity {quantity!r}"


def test_relay_runs_once_and_migrations_run_in_a_job():
    relay = _deployment_for("relay")
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["template"]["spec"]["containers"][0]["command"] == ["simasn", "relay"]
    jobs = _of_kind("Job")
    assert [j["spec"]["template"]["spec"]["containers"][0]["command"] for j in jobs.values()] == [
        ["simasn", "migrate", "--broker-users"]]
    for name, pod in _pod_specs():
        if name not in jobs:
            for container in pod["containers"] + pod.get("initContainers", []):
                assert "migrate" not in container["command"], f"{name} migrates at start"


def test_selectors_reach_their_pods():
    labels = {name: d["spec"]["template"]["metadata"]["labels"]
              for name, d in _of_kind("Deployment").items()}

    def matches(selector: dict) -> list[str]:
        return [n for n, lab in labels.items() if selector.items() <= lab.items()]

    for name, pdb in _of_kind("PodDisruptionBudget").items():
        assert matches(pdb["spec"]["selector"]["matchLabels"]) == [name], f"PDB {name}"
    service = _of_kind("Service")["simasn-gateway"]
    assert matches(service["spec"]["selector"]) == ["simasn-gateway"]
    hpas = {hpa["spec"]["scaleTargetRef"]["name"]
            for hpa in _of_kind("HorizontalPodAutoscaler").values()}
    assert hpas == {"simasn-gateway", "simasn-records", "simasn-requests"}
    assert hpas <= labels.keys()
    for name, policy in _of_kind("NetworkPolicy").items():
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        assert matches(selector), f"NetworkPolicy {name} selects no pod"


def _looks_secret(name: str, value: str) -> bool:
    """A password, key or token by name, or a URL carrying credentials (user:password@)."""
    name = name.upper()
    return (any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY"))
            or ("://" in value and "@" in value))


def test_secrets_and_config_are_referenced_not_inlined():
    secret = _of_kind("Secret")["simasn-secrets"]
    assert all("REPLACE" in value for value in secret["stringData"].values()), (
        "secret.example.yaml must hold placeholders only")
    config_maps = _of_kind("ConfigMap")
    for key, value in config_maps["simasn-env"]["data"].items():
        assert not _looks_secret(key, value), f"simasn-env: {key} belongs in the Secret"
    for name, pod in _pod_specs():
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "simasn-secrets"
                    assert ref["key"] in secret["stringData"], f"{name}: {ref['key']}"
                else:
                    assert not _looks_secret(env["name"], env.get("value", "")), (
                        f"{name}: {env['name']} must come from the Secret")
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps


def test_configmap_config_yaml_matches_the_repository():
    shipped = _of_kind("ConfigMap")["simasn-config"]["data"]["config.yaml"]
    assert shipped == (ROOT / "config.yaml").read_text(encoding="utf-8")


COMPOSE = ROOT / "docker-compose.yml"


def test_docker_compose_has_every_container():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    for name in (*SERVICES, "postgres", "rabbitmq", "minio", "migrate", "relay"):
        assert name in services, f"docker-compose.yml has no service {name}"
    for name in SERVICES:
        service = services[name]
        assert service["command"][-1] == _entrypoint(name)
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["simasn", "migrate", "--broker-users"]
    assert services["relay"]["command"] == ["simasn", "relay"]
    # every container its own broker login and only its side's caller key, as on Kubernetes
    logins = {}
    for name in (*SERVICES, "relay"):
        env = services[name]["environment"]
        logins[name] = env["SIMASN_AMQP_URI"].split("@")[0]
        assert f"simasn-{name}:" in logins[name]
        assert ("SIMASN_CALLER_SERVICE_KEY" in env) == (name not in ("gateway", "relay"))
        assert ("SIMASN_CALLER_GATEWAY_KEY" in env) == (name == "gateway")
    assert len(set(logins.values())) == len(logins)
    # at least two gateways behind the edge's one port (issue 18: a killed gateway is no outage)
    assert services["gateway"]["deploy"]["replicas"] >= 2
    assert "8000:8000" in services["edge"]["ports"]
    assert "proxy_pass http://gateway;" in (ROOT / "deploy/compose/edge.conf").read_text()
    assert (ROOT / "Dockerfile").is_file()


def _secret_keys(container) -> dict[str, str]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}


def test_each_process_has_its_own_broker_user_and_only_its_caller_key():
    """Least privilege on the broker and for caller tokens (shared/brokerauth.py,
    shared/callers.py): no pod shares a broker login, the internet-facing gateway never holds
    the services' key and no backend holds the gateway's."""
    seen = {}
    for process in ("identity", "records", "requests", "verification", "signing", "reporting",
                    "sync", "gateway", "relay"):
        deployment = _deployment_for(process)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        keys = _secret_keys(container)
        assert keys["SIMASN_AMQP_URI"] == f"amqp-uri-{process}"
        seen[process] = keys
        if process == "gateway":
            assert keys["SIMASN_CALLER_GATEWAY_KEY"] == "caller-gateway-key"
            assert "SIMASN_CALLER_SERVICE_KEY" not in keys
        elif process == "relay":
            assert not {"SIMASN_CALLER_GATEWAY_KEY", "SIMASN_CALLER_SERVICE_KEY"} & set(keys)
        else:
            assert keys["SIMASN_CALLER_SERVICE_KEY"] == "caller-service-key"
            assert "SIMASN_CALLER_GATEWAY_KEY" not in keys
    assert len({k["SIMASN_AMQP_URI"] for k in seen.values()}) == len(seen)
