"""The broker permission table (shared/brokerauth.py) against the code: every RPC a process
makes is allowed to it, and nothing grants one process another's queues."""

import re
from pathlib import Path

from services.registry import service_classes
from shared import SERVICES, brokerauth

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = [s for s in SERVICES if s != "gateway"]
CALL = re.compile(r"self\.(?:rpc_)?(" + "|".join(BACKENDS) + r")\.([a-z_]+)\(")


def _calls_in(service: str) -> set[str]:
    found = set()
    for path in (ROOT / "services" / service).glob("*.py"):
        found |= {f"{target}.{method}" for target, method in CALL.findall(path.read_text())}
    if service == "gateway":
        found |= {f"{backend}.health" for backend in BACKENDS}  # readiness asks every backend
        sessions = (ROOT / "services/gateway/dependencies.py").read_text()
        found |= {f"identity.{m}" for m in re.findall(r"proxy\.([a-z_]+)\(", sessions)}
    return found


def _allowed(grant: brokerauth.Grant, routing_key: str, exchange="nameko-rpc") -> bool:
    write, _ = grant.topics[exchange]
    return re.fullmatch(write, routing_key) is not None


def test_every_rpc_in_the_code_is_allowed_to_its_caller():
    for service in SERVICES:
        grant = grant_of(service)
        calls = _calls_in(service)
        refused = sorted(c for c in calls if not _allowed(grant, c))
        assert not refused, f"{service} calls {refused} but RPC_CALLS does not allow it"


def grant_of(process: str) -> brokerauth.Grant:
    return brokerauth.grant_for(process, service_classes())


def test_nothing_more_than_the_code_needs_is_allowed():
    assert not _allowed(grant_of("signing"), "identity.list_accounts")
    assert not _allowed(grant_of("gateway"), "records.record_for_rules")
    assert not _allowed(grant_of("gateway"), "requests.apply_outcome")
    assert _allowed(grant_of("requests"), "0f5c2a0e-7e1b-4b8f-9a7f-3b1a2c3d4e5f")
    for service in SERVICES:  # no process may bind a wildcard on nameko-rpc
        _, read = grant_of(service).topics["nameko-rpc"]
        for key in ("#", "*.*", "records.#", "identity.*" if service != "identity" else "x.*"):
            assert not re.fullmatch(read, key), (service, key)


def test_no_process_may_touch_another_process_queues():
    for service in SERVICES:
        grant = grant_of(service)
        for other in SERVICES:
            if other == service:
                continue
            reply = f"rpc.reply-{other}-0f5c2a0e-7e1b-4b8f-9a7f-3b1a2c3d4e5f"
            for queue in (f"rpc-{other}", reply):
                for regex in (grant.configure, grant.write, grant.read):
                    assert not re.fullmatch(regex, queue), (service, queue)
        assert not re.fullmatch(grant.write, "amq.default"), service
    relay = grant_of("relay")
    assert re.fullmatch(relay.write, "records.events") and relay.read == "^$"


def test_every_consumer_may_read_the_feeds_of_its_sources():
    """A catch-up subscription reads its source's `events_feed` (shared/subscriptions.py); the
    call is made by the shared code, so the scan above cannot see it."""
    from shared.topology import handler_queues

    for service in BACKENDS:
        grant = grant_of(service)
        sources = {source for _, source, _ in handler_queues(service_classes()[service])}
        for source in sources:
            assert _allowed(grant, f"{source}.events_feed"), (service, source)
        for other in set(BACKENDS) - sources - {service}:
            assert not _allowed(grant, f"{other}.events_feed"), (service, other)


def test_a_regions_broker_user_may_only_publish_on_its_own_exchange():
    """The AMQP push (issue 14): `simasn broker region <code>` grants this and no more; the
    refusals themselves are checked on a real broker in tests/test_sync_amqp.py."""
    grant = brokerauth.region_grant("3507")
    assert grant.user == "simasn-region-3507"
    assert grant.configure == "^$" and grant.read == "^$" and grant.topics == {}
    assert re.fullmatch(grant.write, "sync.region.3507")
    for other in ("sync.region.3573", "sync.region.35071", "sync.region-batches", "amq.default",
                  "nameko-rpc", "records.events", ""):
        assert not re.fullmatch(grant.write, other), other
    sync = grant_of("sync")
    assert re.fullmatch(sync.read, brokerauth.REGION_BATCH_QUEUE)
    assert not re.fullmatch(sync.write, "sync.region.3507")  # sync never publishes as a region
    for bad in ("35", "3507.#", "../3507", "9999"):
        try:
            brokerauth.region_grant(bad)
        except Exception as exc:  # noqa: BLE001 - any refusal will do, a ConfigError is given
            assert getattr(exc, "code", "") == "config_invalid", bad
        else:
            raise AssertionError(f"{bad!r} accepted as a region code")
