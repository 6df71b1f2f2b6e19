"""One RabbitMQ user per process, allowed only what that process does (least privilege).

With one shared login (guest was an administrator) the internet-facing gateway could read any
queue and call any RPC. Here every service, the relay and the gateway get their own user on the
vhost, whose permissions name exactly:

- the queues it declares and consumes: its RPC queue `rpc-<service>`, its reply queues
  `rpc.reply-<service>-<uuid>` (and Nameko's standalone ones), its event handlers' queues;
- the exchanges it binds to or publishes on: `nameko-rpc`, the `<source>.events` exchanges of
  the events it handles, the session-fence exchanges for identity and the gateway;
- on the `nameko-rpc` topic exchange (topic permissions: RabbitMQ checks the routing key of
  every publish against `write` and of every binding against `read`): the RPC methods it may
  call (`RPC_CALLS`, checked against the code by tests/test_broker_users.py) and replies to
  reply queues (a UUID), and it may bind only `<service>.*` and its own reply UUIDs.

Nobody but the operator's administrator login may publish on the default exchange, which would
reach any queue by name. `simasn broker setup` applies all this through the management API
(run by `make up` after the migrations, and by the Kubernetes job)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from shared import SERVICES
from shared.errors import ConfigError

UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RPC_EXCHANGE = "nameko-rpc"
FENCE_EXCHANGE = "identity.session-fences"
FENCE_ACK_EXCHANGE = "identity.fence-acks"
#: the AMQP push of issue 14 (docs/design/sync.md "AMQP push"): each kabupaten/kota publishes
#: its batches on its own exchange; sync consumes them all from one queue bound to every one
REGION_EXCHANGE_PREFIX = "sync.region."
REGION_BATCH_QUEUE = "sync.region-batches"
REGION_CODE = "35[0-9]{2}"
BACKENDS = tuple(s for s in SERVICES if s != "gateway")

#: which RPC methods each process may call ("*": every method of that service). Kept exact:
#: tests/test_broker_users.py reads every proxy call in the code and fails on one not listed.
RPC_CALLS: dict[str, dict[str, tuple[str, ...]]] = {
    "gateway": {
        "identity": ("*",),
        "records": ("health", "agency_employee", "agency_employees", "attach_document",
                    "authorize_download", "decide_change",
                    "disclosure_report", "field_history", "get_employee", "get_import",
                    "list_disclosures", "my_disclosures", "propose_change",
                    "record_history", "record_timeline", "register_employee", "start_import",
                    "upload_document"),
        "requests": ("health", "authorize_document", "change_layanan",
                     "change_request_documents", "create_request", "deactivate_layanan",
                     "decide_request", "eligibility", "eligibility_overview",
                     "evaluation_report", "get_layanan", "get_request", "list_layanan",
                     "list_requests", "my_requests", "record_evaluation", "recorded_evaluation",
                     "request_timeline", "return_request",
                     "start_verification", "submit_request", "verify_request",
                     "withdraw_request"),
        "verification": ("health", "claim", "dismiss_case", "fake_document_cases", "inbox",
                         "inbox_updates", "issue_warning", "mark_read", "queue",
                         "report_fake_document"),
        "signing": ("health", "audit_status", "authorize_download", "get_document",
                    "list_checkpoints",
                    "list_documents", "my_documents", "opd_documents", "public_checkpoint",
                    "public_checkpoints", "reissue_document", "request_output",
                    "retry_document", "revoke_document", "sign_checkpoint", "sign_document",
                    "verify_document", "verify_pdf"),
        "reporting": ("health", "answer_consent", "authorize_data_request_file",
                      "authorize_export_download", "chart", "decide_data_request",
                      "file_data_request", "find_employees", "get_data_request", "get_export",
                      "list_data_requests", "monev_completeness",
                      "monev_employee", "monev_missing", "monev_trend", "monev_workload",
                      "my_consents", "public_statistics", "release_data_request", "report",
                      "start_export"),
        "sync": ("health", "add_region_key", "apply_decisions", "get_reconciliation",
                 "get_region", "list_decisions", "list_differences", "list_quarantine",
                 "list_reconciliations", "list_region_keys", "list_regions", "list_snapshots",
                 "onboard_region", "permit_snapshot", "produce_berita_acara", "receive_batch",
                 "receive_snapshot", "record_decisions", "retire_region_key", "retry_quarantined",
                 "signed_corrections", "signed_differences", "signed_quarantine",
                 "signed_reconciliation", "signed_snapshot", "signed_status", "skip_quarantined",
                 "start_reconciliation"),
    },
    # requests has its yearly evaluation signed (usecases/evaluation.py `record`)
    "requests": {"records": ("document_meta", "documents_not_owned", "record_for_rules"),
                 "signing": ("events_feed", "issue_document"), "verification": ("events_feed",)},
    "verification": {"records": ("events_feed", "get_employee", "record_history"),
                     "requests": ("events_feed", "get_request"),
                     # the consents a data request asks for reach the pegawai's inbox
                     "reporting": ("events_feed",),
                     # and their output documents signed, revoked, replaced (issue 20)
                     "signing": ("events_feed", "get_document")},
    "signing": {"records": ("get_employee",), "requests": ("events_feed", "get_request"),
                "verification": ("events_feed", "get_case")},
    # identity has the integrity pacts staff sign rendered and signed (usecases/pacts.py), and
    # withdraws one whose document BKD revoked
    "identity": {"requests": ("events_feed",),
                 "signing": ("events_feed", "get_document", "issue_document")},
    "records": {"requests": ("events_feed",)},
    # the employee list and monev's read models catch up from the records, identity (the
    # fasilitators' OPDs) and requests logs; official lists are signed (services/reporting)
    # (and records every export naming persons in records' disclosure log, record_disclosure)
    "reporting": {"records": ("events_feed", "record_disclosure"), "identity": ("events_feed",),
                  "requests": ("events_feed",), "signing": ("issue_document",)},
    # sync applies the regions' changes through records' own use case (services/sync/usecases/
    # applying.py, settlement.py; the reconciliation reads its roster) and has the
    # reconciliation's berita acara signed
    "sync": {"records": ("apply_region_change", "apply_region_changes", "locate_nips",
                         "region_roster"),
             "signing": ("issue_document",)},
}
# `events_feed`: a consumer catching up reads its sources' feeds (shared/subscriptions.py); the
# table lists it for exactly the sources each process subscribes to (tests/test_broker_users.py)


#: the session fences (services/identity/fences.py, services/gateway/dependencies.py): the queue the
#: process declares, the exchange it publishes on, the one it binds that queue to. Identity
#: announces fences and collects acknowledgements; every gateway replica hears and acknowledges.
FENCE_GRANTS = {
    "identity": (re.escape("identity.fence-acks.") + "[0-9a-f]{32}", FENCE_EXCHANGE,
                 FENCE_ACK_EXCHANGE),
    "gateway": (re.escape("gateway.session-fences.") + "[0-9A-Za-z_.:-]+", FENCE_ACK_EXCHANGE,
                FENCE_EXCHANGE),
}


@dataclass(frozen=True)
class Grant:
    """A user's permissions on one vhost: three resource regexes plus topic permissions per
    topic exchange (exchange -> (write, read) routing-key regexes)."""

    user: str
    configure: str
    write: str
    read: str
    topics: dict[str, tuple[str, str]]


def _any(names) -> str:
    names = sorted(set(names))
    return "^(" + "|".join(names) + ")$" if names else "^$"


def grant_for(process: str, classes: dict, prefix: str = "simasn-") -> Grant:
    """The permissions of `process` (a service name, or "relay"); `classes` are the Nameko
    service classes (services/registry.py), whose event handlers' queues a service may use."""
    user = prefix + process
    if process == "relay":
        exchanges = [re.escape(f"{s}.events") for s in BACKENDS + ("gateway",)]
        return Grant(user, _any(exchanges), _any(exchanges), "^$",
                     {f"{s}.events": (".*", "^$") for s in BACKENDS + ("gateway",)})
    if process not in SERVICES:
        raise ConfigError(f"unknown process {process!r}", field="process")
    own_queues = [re.escape(f"rpc-{process}"), re.escape(f"rpc.reply-{process}-") + UUID,
                  re.escape("rpc.reply-standalone_rpc_proxy-") + UUID]
    from shared.topology import handler_queues

    if process not in classes:
        raise ConfigError(f"no service class given for {process!r}", field="process")
    events = handler_queues(classes[process])
    own_queues += [re.escape(queue) for queue, _, _ in events]
    sources = sorted({source for _, source, _ in events})
    exchanges = [re.escape(RPC_EXCHANGE)] + [re.escape(f"{s}.events") for s in sources]
    configure, write, read = list(own_queues), list(own_queues), list(own_queues)
    configure += exchanges
    write.append(re.escape(RPC_EXCHANGE))
    read += exchanges
    if process == "sync":  # it declares and consumes the regions' batch queue (not binds it)
        configure.append(re.escape(REGION_BATCH_QUEUE))
        read.append(re.escape(REGION_BATCH_QUEUE))
    fences = FENCE_GRANTS.get(process)
    if fences:
        queue, publishes_on, binds_to = fences
        for grant in (configure, write, read):
            grant.append(queue)
        configure += [re.escape(FENCE_EXCHANGE), re.escape(FENCE_ACK_EXCHANGE)]
        write.append(re.escape(publishes_on))
        read.append(re.escape(binds_to))
    # its own health RPC: the probes (`simasn health --service <process>`) run in its pod
    calls = [re.escape(f"{process}.health")]
    for target, methods in RPC_CALLS.get(process, {}).items():
        calls += ([re.escape(target) + r"\.[a-z_]+"] if "*" in methods
                  else [re.escape(f"{target}.{m}") for m in methods])
    topics = {RPC_EXCHANGE: (_any(calls + [UUID]), _any([re.escape(process) + r"\.\*", UUID]))}
    for source in sources:
        types = [re.escape(t) for _, s, t in events if s == source]
        topics[f"{source}.events"] = ("^$", _any(types))
    return Grant(user, _any(configure), _any(write), _any(read), topics)


def processes() -> list[str]:
    return [*SERVICES, "relay"]


# -- the management API --------------------------------------------------------------------


class Management:
    """RabbitMQ's management HTTP API, as the operator's administrator login."""

    def __init__(self, base_url: str, user: str, password: str):
        self.base = base_url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body=None):
        url = self.base + path
        if not url.startswith(("http://", "https://")):
            raise ConfigError("the management URL must be http(s)", field="RABBIT_MANAGEMENT_URL")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            url, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": self.auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "DELETE":
                return None
            raise ConfigError(f"RabbitMQ management {method} {path}: HTTP {exc.code} "
                              f"{exc.read()[:200]!r}", field="RABBIT_MANAGEMENT_URL") from None
        except OSError as exc:
            raise ConfigError(f"RabbitMQ management API at {self.base} does not answer: {exc}",
                              field="RABBIT_MANAGEMENT_URL") from None
        return json.loads(raw) if raw else None


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def apply(management: Management, vhost: str, passwords: dict[str, str], classes: dict,
          prefix: str = "simasn-") -> list[Grant]:
    """Create or update every process's user (password from `passwords[process]`) and set its
    permissions on `vhost` exactly (topic permissions on other exchanges are removed);
    `classes`: each service's Nameko class (services/registry.py)."""
    grants = []
    for process in processes():
        grant = grant_for(process, classes, prefix)
        management.call("PUT", f"/api/users/{_q(grant.user)}",
                        {"password": passwords[process], "tags": ""})
        management.call("PUT", f"/api/permissions/{_q(vhost)}/{_q(grant.user)}",
                        {"configure": grant.configure, "write": grant.write, "read": grant.read})
        management.call("DELETE", f"/api/topic-permissions/{_q(vhost)}/{_q(grant.user)}")
        for exchange, (write, read) in grant.topics.items():
            management.call("PUT", f"/api/topic-permissions/{_q(vhost)}/{_q(grant.user)}",
                            {"exchange": exchange, "write": write, "read": read})
        grants.append(grant)
    return grants


def region_exchange(code: str) -> str:
    return REGION_EXCHANGE_PREFIX + code


def region_grant(code: str, prefix: str = "simasn-") -> Grant:
    """A kabupaten/kota's own broker user: it may publish on its exchange `sync.region.<code>`
    and nothing else; it declares nothing (configure), reads nothing (no queue, no binding)."""
    if not re.fullmatch(REGION_CODE, code):
        raise ConfigError(f"not a region code: {code!r}", field="region")
    exchange = region_exchange(code)
    return Grant(f"{prefix}region-{code}", "^$", _any([re.escape(exchange)]), "^$", {})


def apply_region(management: Management, vhost: str, code: str, password: str,
                 prefix: str = "simasn-") -> Grant:
    """The region's exchange (durable direct), sync's batch queue bound to it, and the region's
    user with exactly `region_grant` (a new password each time: a rotation)."""
    grant = region_grant(code, prefix)
    exchange, v = region_exchange(code), _q(vhost)
    management.call("PUT", f"/api/exchanges/{v}/{_q(exchange)}",
                    {"type": "direct", "durable": True, "auto_delete": False, "internal": False,
                     "arguments": {}})
    management.call("PUT", f"/api/queues/{v}/{_q(REGION_BATCH_QUEUE)}",
                    {"durable": True, "auto_delete": False, "arguments": {}})
    management.call("POST", f"/api/bindings/{v}/e/{_q(exchange)}/q/{_q(REGION_BATCH_QUEUE)}",
                    {"routing_key": "batch", "arguments": {}})
    management.call("PUT", f"/api/users/{_q(grant.user)}", {"password": password, "tags": ""})
    management.call("PUT", f"/api/permissions/{v}/{_q(grant.user)}",
                    {"configure": grant.configure, "write": grant.write, "read": grant.read})
    management.call("DELETE", f"/api/topic-permissions/{v}/{_q(grant.user)}")
    for topic_exchange, (write, read) in grant.topics.items():
        management.call("PUT", f"/api/topic-permissions/{v}/{_q(grant.user)}",
                        {"exchange": topic_exchange, "write": write, "read": read})
    return grant


def remove_region(management: Management, code: str, prefix: str = "simasn-") -> None:
    """The region's broker user deleted (its exchange stays: nothing queued is lost)."""
    management.call("DELETE", f"/api/users/{_q(region_grant(code, prefix).user)}")


def remove(management: Management, prefix: str = "simasn-") -> None:
    for process in processes():
        management.call("DELETE", f"/api/users/{_q(prefix + process)}")


def new_passwords() -> dict[str, str]:
    return {process: secrets.token_urlsafe(24) for process in processes()}


def env_name(process: str) -> str:
    return f"SIMASN_BROKER_PASSWORD_{process.upper()}"


def uri_for(admin_uri: str, user: str, password: str) -> str:
    """`admin_uri` with the process's own login instead of the administrator's."""
    parts = urllib.parse.urlsplit(admin_uri)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{_q(user)}:{_q(password)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query,
                                    parts.fragment))


def vhost_of(amqp_uri: str) -> str:
    path = urllib.parse.urlsplit(amqp_uri).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"
