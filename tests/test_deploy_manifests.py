"""The deployment files stay deployable: each kustomize overlay (deploy/k8s/overlays/dev, prod and
their migrate/) is rendered (tests/kustomize.py) and every resulting object validates strictly,
Kubernetes kinds against the offline Kubernetes schemas, the operators' kinds (KEDA,
CloudNativePG, RabbitMQ) against their CRD schemas vendored in tests/vendor/crds; every service
has its Deployment and container, and the pieces refer to each other correctly (selectors,
Secrets, ConfigMaps, queues, broker permissions, database roles). No cluster or Docker needed."""

from __future__ import annotations

import copy
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared import SERVICES
from tests.kustomize import files_used, render

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
CRDS = Path(__file__).resolve().parent / "vendor" / "crds"
# The oldest Kubernetes we support and the newest the validator knows.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# The schemas accept any string as a quantity; the API server does not.
QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$")
ENVIRONMENTS = ("dev", "prod")
OVERLAYS = {name: render(K8S / "overlays" / name)
            for env in ENVIRONMENTS for name in (env, f"{env}/migrate")}
#: the operators' kinds and their vendored schemas (tests/vendor/crds/README.md)
CRD_SCHEMAS = {
    ("keda.sh", "ScaledObject"): "scaledobject_v1alpha1.json",
    ("keda.sh", "TriggerAuthentication"): "triggerauthentication_v1alpha1.json",
    ("postgresql.cnpg.io", "Cluster"): "cluster_v1.json",
    ("postgresql.cnpg.io", "ScheduledBackup"): "scheduledbackup_v1.json",
    ("rabbitmq.com", "RabbitmqCluster"): "rabbitmqcluster_v1beta1.json",
    ("rabbitmq.com", "User"): "user_v1beta1.json",
    ("rabbitmq.com", "Permission"): "permission_v1beta1.json",
    ("rabbitmq.com", "TopicPermission"): "topicpermission_v1beta1.json",
    ("rabbitmq.com", "Vhost"): "vhost_v1beta1.json",
}
#: the processes consuming RabbitMQ queues (every backend): scaled by KEDA on queue length
CONSUMERS = tuple(s for s in SERVICES if s != "gateway")


def _class_name(service: str) -> str:
    return service[0].upper() + service[1:] + "Service"


def _entrypoint(service: str) -> str:
    return f"services.{service}.service:{_class_name(service)}"


RESOURCES = [(overlay, doc) for overlay, docs in OVERLAYS.items() for doc in docs]


def _of_kind(kind: str, overlay: str = "prod") -> dict[str, dict]:
    docs = OVERLAYS[overlay] + OVERLAYS.get(f"{overlay}/migrate", [])
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _deployment_for(service: str, overlay: str = "prod") -> dict:
    deployments = _of_kind("Deployment", overlay)
    assert f"simasn-{service}" in deployments, f"no Deployment simasn-{service} in {overlay}"
    return deployments[f"simasn-{service}"]


def _pod_specs(overlay: str):
    for doc in OVERLAYS[overlay] + OVERLAYS[f"{overlay}/migrate"]:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _secret_example() -> dict:
    docs = yaml.safe_load_all((K8S / "base" / "secret.example.yaml").read_text(encoding="utf-8"))
    return {d["metadata"]["name"]: d for d in docs if d}


def _crd_validator(doc: dict):
    name = CRD_SCHEMAS[(doc["apiVersion"].split("/")[0], doc["kind"])]
    schema = json.loads((CRDS / name).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def _validate(doc: dict, version: str) -> list[str]:
    """The errors of one object: Kubernetes kinds strictly against the Kubernetes schemas, the
    operators' kinds against their vendored CRD schemas."""
    if (doc["apiVersion"].split("/")[0], doc["kind"]) in CRD_SCHEMAS:
        return [f"{'.'.join(map(str, e.path))}: {e.message}"
                for e in _crd_validator(doc).iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def test_overlays_render():
    for name, docs in OVERLAYS.items():
        assert docs, f"overlays/{name} renders nothing"
    assert len(OVERLAYS["prod"]) >= len(SERVICES) + 1


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "overlay, doc", RESOURCES,
    ids=[f"{o}:{d['kind']}/{d['metadata']['name']}" for o, d in RESOURCES],
)
def test_manifest_validates_strictly(overlay, doc, version):
    """Strict: an unknown or misspelt field fails; an unknown kind fails too (the command line
    tool only warns about those)."""
    errors = _validate(doc, version)
    assert not errors, f"overlays/{overlay} {doc['kind']}/{doc['metadata']['name']}: {errors}"


@pytest.mark.parametrize("kind", sorted({k for _, k in CRD_SCHEMAS}))
def test_crd_validation_refuses_unknown_fields_and_wrong_types(kind):
    """The vendored schemas do catch mistakes: a misspelt field and a wrong type both fail."""
    doc = next(d for d in OVERLAYS["prod"] if d["kind"] == kind)
    assert _validate(doc, K8S_VERSIONS[0]) == []
    misspelt = copy.deepcopy(doc)
    misspelt["spec"]["rabbitmqClusterRefernce"] = {"name": "x"}
    assert _validate(misspelt, K8S_VERSIONS[0]), f"{kind}: unknown field accepted"
    wrong = copy.deepcopy(doc)
    field = next(k for k, v in wrong["spec"].items() if isinstance(v, (str, int, dict, list))
                 and not isinstance(v, bool))
    wrong["spec"][field] = True
    assert _validate(wrong, K8S_VERSIONS[0]), f"{kind}: spec.{field} = true accepted"


def test_every_resource_is_namespaced_in_simasn():
    for overlay, doc in RESOURCES:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "simasn"
        else:
            assert doc["metadata"].get("namespace") == "simasn", f"{overlay}: {doc['kind']}"


def test_every_file_under_deploy_k8s_is_rendered_by_an_overlay():
    """No forgotten manifest: each file is read by some overlay, except the Secret example."""
    used = set()
    for name in OVERLAYS:
        used |= files_used(K8S / "overlays" / name)
    files = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "secret.example.yaml"}
    assert files == used, sorted(str(p.relative_to(K8S)) for p in files ^ used)


def test_pod_template_is_written_once():
    """The base's Deployments carry no copy of what components/pod-defaults adds."""
    for path in (K8S / "base").rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "backup.yaml":  # a CronJob's pod sits elsewhere (see the file)
            continue
        for common in ("seccompProfile", "readOnlyRootFilesystem", "serviceAccountName",
                       "configMapRef"):
            assert common not in text, f"{path.relative_to(K8S)} repeats {common}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_deployment(service, env):
    deployment = _deployment_for(service, env)
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    assert container["command"][:2] == ["nameko", "run"]
    assert container["command"][-1] == _entrypoint(service)
    module = importlib.import_module(f"services.{service}.service")
    assert getattr(module, _class_name(service)).name == service
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/etc/simasn", "/tmp"}
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        check = container[probe]
        assert "exec" not in check, f"{service}: a probe must not start a process"
        if service == "gateway":
            assert check["httpGet"]["path"] == "/health"
        else:
            assert check["httpGet"] == {"path": path, "port": "health"}
    if service != "gateway":
        env_map = _of_kind("ConfigMap", env)["simasn-env"]["data"]
        assert ports["health"] == int(env_map["SIMASN_HEALTH_PORT"])
    keys = _secret_keys(container)
    assert keys["SIMASN_SERVICE_DATABASE_URL"] == f"database-url-{service}"


def test_signing_alone_mounts_the_key_store():
    for env in ENVIRONMENTS:
        for service in SERVICES:
            pod = _deployment_for(service, env)["spec"]["template"]["spec"]
            volumes = {v["name"] for v in pod["volumes"]}
            mounts = {m["name"] for m in pod["containers"][0]["volumeMounts"]}
            assert ("keystore" in volumes and "keystore" in mounts) == (service == "signing")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_resources_are_valid_quantities(env):
    for name, pod in _pod_specs(env):
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"requests", "limits"} <= resources.keys(), name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources[bound].keys(), f"{name} {bound}"
                for quantity in resources[bound].values():
                    assert QUANTITY.match(str(quantity)), f"{name}: bad quantity {quantity!r}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_relay_runs_once_and_migrations_run_in_a_job(env):
    relay = _deployment_for("relay", env)
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["template"]["spec"]["containers"][0]["command"] == ["simasn", "relay"]
    jobs = {d["metadata"]["name"]: d for d in OVERLAYS[f"{env}/migrate"]}
    assert {n: j["spec"]["template"]["spec"]["containers"][0]["command"]
            for n, j in jobs.items()} == {"simasn-migrate": ["simasn", "migrate", "--check-roles"],
                                          "simasn-storage-init": ["simasn", "storage", "init"]}
    assert not [d for d in OVERLAYS[env] if d["kind"] == "Job"]
    for name, pod in _pod_specs(env):
        if name not in jobs:
            for container in pod["containers"] + pod.get("initContainers", []):
                assert "migrate" not in container["command"], f"{name} migrates at start"


def test_each_overlay_runs_one_image_and_its_migrate_the_same():
    for env in ENVIRONMENTS:
        images = {c["image"] for _, pod in _pod_specs(env) for c in pod["containers"]}
        assert len(images) == 1, f"{env}: {images}"
    assert {c["image"] for _, pod in _pod_specs("dev") for c in pod["containers"]} != {
        c["image"] for _, pod in _pod_specs("prod") for c in pod["containers"]}


def test_overlays_size_the_environments():
    dev, prod = (_of_kind("Cluster", e)["simasn-pg"]["spec"] for e in ENVIRONMENTS)
    assert (dev["instances"], prod["instances"]) == (1, 3)
    assert dev["storage"]["size"] != prod["storage"]["size"]
    dev_mq, prod_mq = (_of_kind("RabbitmqCluster", e)["simasn-rabbitmq"]["spec"]
                       for e in ENVIRONMENTS)
    assert (dev_mq["replicas"], prod_mq["replicas"]) == (1, 3)
    hosts = {e: {r["host"] for i in _of_kind("Ingress", e).values() for r in i["spec"]["rules"]}
             for e in ENVIRONMENTS}
    assert hosts == {"dev": {"simasn.dev.simasn.example"},
                     "prod": {"simasn.bkd.jatimprov.go.id"}}
    for env, minimum in (("dev", 1), ("prod", 2)):
        for scaled in _of_kind("ScaledObject", env).values():
            assert scaled["spec"]["minReplicaCount"] == minimum


def test_selectors_reach_their_pods():
    for env in ENVIRONMENTS:
        labels = {name: d["spec"]["template"]["metadata"]["labels"]
                  for name, d in _of_kind("Deployment", env).items()}

        def matches(selector: dict, labels=labels) -> list[str]:
            return [n for n, lab in labels.items() if selector.items() <= lab.items()]

        for name, pdb in _of_kind("PodDisruptionBudget", env).items():
            assert matches(pdb["spec"]["selector"]["matchLabels"]) == [name], f"PDB {name}"
        service = _of_kind("Service", env)["simasn-gateway"]
        assert matches(service["spec"]["selector"]) == ["simasn-gateway"]
        for name, policy in _of_kind("NetworkPolicy", env).items():
            selector = policy["spec"]["podSelector"].get("matchLabels", {})
            assert matches(selector), f"NetworkPolicy {name} selects no pod"


# -- autoscaling ----------------------------------------------------------------------------


def _handler_queues() -> dict[str, list[str]]:
    from services.registry import service_classes
    from shared.topology import handler_queues

    return {name: [q for q, _, _ in handler_queues(cls)]
            for name, cls in service_classes().items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_consumers_scale_on_their_queues_and_the_gateway_on_cpu(env):
    """Every backend has a ScaledObject on its Deployment whose triggers measure exactly its own
    queues: rpc-<service>, and a regex matching all of its event handlers' queues and no other
    service's (the names Nameko declares, shared/consumer.py)."""
    from shared.brokerauth import REGION_BATCH_QUEUE

    queues = _handler_queues()
    everything = [q for qs in queues.values() for q in qs] + [f"rpc-{s}" for s in SERVICES]
    scaled = _of_kind("ScaledObject", env)
    auth = _of_kind("TriggerAuthentication", env)
    secret = _secret_example()["simasn-secrets"]["stringData"]
    for ref in auth["simasn-rabbitmq"]["spec"]["secretTargetRef"]:
        assert ref["name"] == "simasn-secrets" and ref["key"] in secret
    assert set(scaled) == {f"simasn-{s}" for s in CONSUMERS}
    for service in CONSUMERS:
        spec = scaled[f"simasn-{service}"]["spec"]
        assert spec["scaleTargetRef"]["name"] == f"simasn-{service}"
        assert "replicas" not in _deployment_for(service, env)["spec"]
        measured = set()
        for trigger in spec["triggers"]:
            assert trigger["type"] == "rabbitmq"
            assert trigger["authenticationRef"]["name"] in auth
            meta = trigger["metadata"]
            assert meta["mode"] == "QueueLength" and meta["vhostName"] == "simasn"
            if meta.get("useRegex") == "true":
                assert meta["protocol"] == "http" and meta["operation"] == "sum"
                pattern = re.compile(meta["queueName"])
                measured |= {q for q in everything if pattern.search(q)}
            else:
                measured.add(meta["queueName"])
        expected = {f"rpc-{service}", *queues[service]}
        if service == "sync":
            expected.add(REGION_BATCH_QUEUE)
        assert measured == expected, service
    hpas = _of_kind("HorizontalPodAutoscaler", env)
    assert set(hpas) == {"simasn-gateway"}
    gateway = hpas["simasn-gateway"]["spec"]
    assert gateway["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in gateway["metrics"]] == ["cpu"]


# -- ingress --------------------------------------------------------------------------------


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size).groups()
    return int(number) << {"": 0, "k": 10, "m": 20, "g": 30}[unit]


def _config_default(key: str) -> str:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    return re.search(rf"^{key}: \$\{{SIMASN_{key}:([^}}]*)\}}", text, re.M).group(1)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ingress_buffers_bodies_within_the_gateways_limits(env):
    from services.gateway import service as gateway

    ingresses = _of_kind("Ingress", env)
    limits = {"simasn-gateway": max(gateway.IMPORT_MAX_BYTES, gateway.DOCUMENT_MAX_BYTES,
                                    gateway.VERIFY_MAX_BYTES, gateway.SYNC_BATCH_MAX_BYTES),
              "simasn-gateway-snapshots": int(_config_default("SYNC_MAX_SNAPSHOT_BYTES"))}
    assert set(ingresses) == set(limits)
    service = _of_kind("Service", env)["simasn-gateway"]
    ports = {p["name"] for p in service["spec"]["ports"]}
    for name, ingress in ingresses.items():
        notes = ingress["metadata"]["annotations"]
        prefix = "nginx.ingress.kubernetes.io/"
        assert notes[prefix + "proxy-request-buffering"] == "on"
        assert _bytes(notes[prefix + "proxy-body-size"]) == limits[name], name
        for timeout in ("proxy-connect-timeout", "proxy-send-timeout", "proxy-read-timeout"):
            assert int(notes[prefix + timeout]) > 0
        spec = ingress["spec"]
        assert spec["ingressClassName"] == "nginx"
        assert spec["tls"][0]["secretName"]
        assert spec["tls"][0]["hosts"] == [r["host"] for r in spec["rules"]]
        for rule in spec["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] == "simasn-gateway" and backend["port"]["name"] in ports
    snapshot = ingresses["simasn-gateway-snapshots"]["spec"]["rules"][0]["http"]["paths"][0]
    assert re.fullmatch(snapshot["path"], "/api/sync/3578/snapshots")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_ingress_waits_out_a_signature_made_through_another_service(env):
    """A route that answers once a document is signed through another service (a pakta
    integritas: gateway -> identity -> signing) waits RPC_SIGNING_TIMEOUT + RPC_TIMEOUT in the
    gateway (shared/rpc.py `deadlines`); the ingress must not cut it off first, and signing's
    own deadline must outlast BSrE's, or the official's signature is lost to a 503."""
    env_map = _of_kind("ConfigMap", env)["simasn-env"]["data"]

    def seconds(key):
        return float(env_map.get(f"SIMASN_{key}") or _config_default(key))

    timeout, longest = seconds("RPC_TIMEOUT"), seconds("RPC_SIGNING_TIMEOUT")
    assert longest >= seconds("BSRE_CONNECT_TIMEOUT") + seconds("BSRE_READ_TIMEOUT")
    notes = _of_kind("Ingress", env)["simasn-gateway"]["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > longest + timeout
    edge = (ROOT / "deploy" / "compose" / "edge.conf").read_text(encoding="utf-8")
    read = re.search(r"proxy_read_timeout (\d+)s;", edge).group(1)
    assert int(read) > float(_config_default("RPC_SIGNING_TIMEOUT")) + float(
        _config_default("RPC_TIMEOUT"))


# -- PostgreSQL and RabbitMQ operators ------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_postgres_cluster_has_one_login_role_per_service_and_backups(env):
    cluster = _of_kind("Cluster", env)["simasn-pg"]["spec"]
    roles = {r["name"]: r for r in cluster["managed"]["roles"]}
    assert set(roles) == {"simasn_owner"} | {f"simasn_{s}" for s in SERVICES}
    for service in SERVICES:
        role = roles[f"simasn_{service}"]
        assert role["login"] and role["passwordSecret"]["name"] == f"simasn-db-{service}"
        assert not role.get("superuser") and not role.get("createrole")
    assert cluster["backup"]["retentionPolicy"]
    assert cluster["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    (scheduled,) = _of_kind("ScheduledBackup", env).values()
    assert scheduled["spec"]["cluster"]["name"] == "simasn-pg"
    assert len(scheduled["spec"]["schedule"].split()) == 6  # robfig cron: seconds first


def test_broker_users_file_is_generated_from_brokerauth():
    answer = subprocess.run([sys.executable, str(ROOT / "scripts" / "k8s_broker_users.py"),
                             "--check"], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stdout + answer.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_broker_permissions_equal_what_brokerauth_computes(env):
    """The topology operator's objects grant each process exactly shared/brokerauth.grant_for
    (what `simasn broker setup` applies): vhost permissions and every topic permission."""
    from services.registry import service_classes
    from shared import brokerauth

    classes = service_classes()
    users = {u["metadata"]["name"]: u for u in _of_kind("User", env).values()}
    permissions = {p["spec"]["user"]: p["spec"] for p in _of_kind("Permission", env).values()}
    topics: dict[str, dict] = {}
    for topic in _of_kind("TopicPermission", env).values():
        spec = topic["spec"]
        topics.setdefault(spec["user"], {})[spec["permissions"]["exchange"]] = (
            spec["permissions"]["write"], spec["permissions"]["read"])
    vhosts = {v["spec"]["name"] for v in _of_kind("Vhost", env).values()}
    clusters = set(_of_kind("RabbitmqCluster", env))
    for process in brokerauth.processes():
        grant = brokerauth.grant_for(process, classes)
        assert grant.user in users, process
        assert users[grant.user]["spec"]["tags"] == []
        spec = permissions[grant.user]
        assert spec["vhost"] in vhosts and spec["rabbitmqClusterReference"]["name"] in clusters
        assert spec["permissions"] == {"configure": grant.configure, "write": grant.write,
                                       "read": grant.read}
        assert topics.get(grant.user, {}) == grant.topics, process
    assert users["simasn-keda"]["spec"]["tags"] == ["monitoring"]
    assert permissions["simasn-keda"]["permissions"] == {"configure": "^$", "write": "^$",
                                                         "read": "^$"}
    assert set(permissions) == {brokerauth.grant_for(p, classes).user
                                for p in brokerauth.processes()} | {"simasn-keda"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backup_cronjob_writes_to_the_object_store(env):
    (cron,) = _of_kind("CronJob", env).values()
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][:3] == ["simasn", "backup", "--to"]
    assert container["command"][3].startswith("s3://")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def _looks_secret(name: str, value: str) -> bool:
    """A password, key or token by name, or a URL carrying credentials (user:password@)."""
    name = name.upper()
    return (any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY"))
            or ("://" in value and "@" in value))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_and_config_are_referenced_not_inlined(env):
    secret = _secret_example()["simasn-secrets"]
    assert all("REPLACE" in value for value in secret["stringData"].values()), (
        "secret.example.yaml must hold placeholders only")
    config_maps = _of_kind("ConfigMap", env)
    for key, value in config_maps["simasn-env"]["data"].items():
        assert not _looks_secret(key, value), f"simasn-env: {key} belongs in the Secret"
    for name, pod in _pod_specs(env):
        for container in pod["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "simasn-secrets"
                    assert ref["key"] in secret["stringData"], f"{name}: {ref['key']}"
                else:
                    assert not _looks_secret(entry["name"], entry.get("value", "")), (
                        f"{name}: {entry['name']} must come from the Secret")
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps


def test_configmap_config_yaml_matches_the_repository():
    for env in ENVIRONMENTS:
        shipped = _of_kind("ConfigMap", env)["simasn-config"]["data"]["config.yaml"]
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
        deployment = _deployment_for(process, "prod")
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
