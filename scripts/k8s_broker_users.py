"""Write deploy/k8s/base/broker-users.yaml: every process's RabbitMQ user, its permissions on
the vhost and its topic permissions as messaging-topology-operator objects (User, Permission,
TopicPermission), computed by shared/brokerauth.grant_for, the same function `simasn broker
setup` applies through the management API, so the two cannot drift:
tests/test_deploy_manifests.py fails when the file is not what this script writes.

    .venv/bin/python scripts/k8s_broker_users.py          # rewrite the file
    .venv/bin/python scripts/k8s_broker_users.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from services.registry import service_classes  # noqa: E402
from shared import brokerauth  # noqa: E402

TARGET = ROOT / "deploy" / "k8s" / "base" / "broker-users.yaml"
VHOST = "simasn"
CLUSTER = {"name": "simasn-rabbitmq"}
HEADER = """\
# Written by scripts/k8s_broker_users.py from shared/brokerauth.py (do not edit by hand).
# One RabbitMQ user per process (messaging-topology-operator), its password imported from the
# Secret simasn-broker-<process> (keys username, password; the same password is in that
# process's amqp-uri-<process> in simasn-secrets), allowed exactly what `simasn broker setup`
# would grant it: permissions on the vhost, and topic permissions per topic exchange (RPC
# methods it may call, event types it may bind). Plus simasn-keda: "monitoring", nothing on the
# vhost, for KEDA to read queue lengths (autoscaling.yaml).
"""


def _labels(process: str) -> dict:
    return {"app.kubernetes.io/name": "simasn", "app.kubernetes.io/part-of": "simasn-jatim",
            "app.kubernetes.io/component": process}


def _name(user: str, suffix: str = "") -> str:
    return (user + suffix).replace("_", "-").replace(".", "-").lower()


def documents() -> list[dict]:
    classes = service_classes()
    docs: list[dict] = []
    grants = [(p, brokerauth.grant_for(p, classes)) for p in brokerauth.processes()]
    grants.append(("keda", brokerauth.Grant("simasn-keda", "^$", "^$", "^$", {})))
    for process, grant in grants:
        meta = {"name": _name(grant.user), "labels": _labels(process)}
        docs.append({"apiVersion": "rabbitmq.com/v1beta1", "kind": "User", "metadata": meta,
                     "spec": {"tags": ["monitoring"] if process == "keda" else [],
                              "rabbitmqClusterReference": CLUSTER,
                              "importCredentialsSecret": {"name": f"simasn-broker-{process}"}}})
        docs.append({"apiVersion": "rabbitmq.com/v1beta1", "kind": "Permission",
                     "metadata": {**meta, "name": _name(grant.user, "-permission")},
                     "spec": {"vhost": VHOST, "user": grant.user,
                              "permissions": {"configure": grant.configure,
                                              "write": grant.write, "read": grant.read},
                              "rabbitmqClusterReference": CLUSTER}})
        for exchange, (write, read) in sorted(grant.topics.items()):
            docs.append({"apiVersion": "rabbitmq.com/v1beta1", "kind": "TopicPermission",
                         "metadata": {**meta, "name": _name(grant.user, f"-topic-{exchange}")},
                         "spec": {"vhost": VHOST, "user": grant.user,
                                  "permissions": {"exchange": exchange, "write": write,
                                                  "read": read},
                                  "rabbitmqClusterReference": CLUSTER}})
    return docs


def render() -> str:
    return HEADER + yaml.safe_dump_all(documents(), sort_keys=False, width=100)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/k8s_broker_users.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
