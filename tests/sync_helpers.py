"""A kabupaten/kota pushing through the gateway as its IT team would, with the reference client
(scripts/region_client.py), and the sync service's log and tables read back."""

from __future__ import annotations

import importlib.util
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest

from shared.testing import wait_for

ROOT = Path(__file__).resolve().parent.parent


def _load_client():
    spec = importlib.util.spec_from_file_location("region_client",
                                                  ROOT / "scripts" / "region_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


region_client = _load_client()


def change(sequence: int, nip: str, kind: str = "data_pokok_changed", data: dict | None = None,
           event_id: str | None = None) -> dict:
    return {"event_id": event_id or str(uuid.uuid4()), "sequence": sequence, "kind": kind,
            "nip": nip, "data": data if data is not None else {
                "changes": {"name": f"Pegawai {sequence}"}}}


@dataclass
class Region:
    """One onboarded region and the key it signs with."""

    base_url: str
    code: str
    key_id: str
    secret: str
    sent: list = field(default_factory=list)

    def send(self, events: list[dict], **kwargs):
        self.sent.extend(events)
        return region_client.send_batch(self.base_url, self.code, self.key_id, self.secret,
                                        events, **kwargs)

    def get(self, what: str, **kwargs):
        return region_client.signed_get(self.base_url, self.code, self.key_id, self.secret,
                                        what, **kwargs)

    def snapshot(self, path, **kwargs):
        return region_client.send_snapshot(self.base_url, self.code, self.key_id, self.secret,
                                           str(path), **kwargs)

    def with_key(self, key_id: str, secret: str) -> Region:
        return Region(self.base_url, self.code, key_id, secret)


def onboard(client, admin_token: str, code: str) -> Region:
    answer = client.call("POST", "/api/sync/regions", admin_token,
                         {"region": code, "reason": "PKS sinkronisasi data kepegawaian"})
    assert answer.status == 201, answer.body
    return Region(client.base, code, answer.body["key_id"], answer.body["secret"])


def sync_log(url: str, region: str, event_type: str | None = None) -> list[dict]:
    """The region's stream in the sync log: (event_type, payload) in order."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT event_type, payload::text FROM sync.events WHERE stream_id = %s "
                        "ORDER BY position", (f"region:{region}",))
            rows = [{"type": t, **json.loads(p)} for t, p in cur.fetchall()]
    finally:
        conn.close()
    return [r for r in rows if event_type is None or r["type"] == event_type]


def inbound(url: str, region: str) -> dict[int, dict]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT sequence, event_id::text, status, attempts, refusal::text FROM "
                        "sync.inbound WHERE region = %s ORDER BY sequence", (region,))
            return {s: {"event_id": e, "status": st, "attempts": a,
                        "refusal": json.loads(r) if r else None}
                    for s, e, st, a, r in cur.fetchall()}
    finally:
        conn.close()


def status(client, admin_token: str, region: str) -> dict:
    answer = client.call("GET", f"/api/sync/regions/{region}", admin_token)
    assert answer.status == 200, answer.body
    return answer.body


def wait_status(client, admin_token: str, region: str, condition, message: str,
                timeout: float = 30) -> dict:
    return wait_for(lambda: (s := status(client, admin_token, region)) and condition(s) and s,
                    timeout=timeout, message=message)


# -- a reported reconciliation, made directly in the tables ----------------------------------

def reported_reconciliation(url: str, region: str, rows: dict[int, dict],
                            differences: list[dict], year: int = 2026,
                            figures: dict | None = None, status: str = "reported",
                            decision: str | None = None) -> str:
    """A reconciliation of `region` in status `reported`, as the report leaves it: a loaded
    snapshot with `rows` ({line: data}) and `differences` (dicts with kind, nip and, as the kind
    needs, field, region_value, province_value, other_instansi, line), numbered 1..n in the
    order given; its id. `status`, `decision`: further on (e.g. applied, every difference
    decided keep_province). A shortcut for tests of what follows the report; the report itself
    is tests/test_sync_snapshots.py's."""
    snapshot_id, reconciliation_id = str(uuid.uuid4()), str(uuid.uuid4())
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO sync.snapshots (snapshot_id, region, format, sha256, "
                        "size_bytes, key_id, status, rows_total, loaded_at) VALUES (%s, %s, "
                        "'jsonl', %s, 1, 'uji', 'loaded', %s, now())",
                        (snapshot_id, region, "0" * 64, len(rows)))
            for line, data in rows.items():
                cur.execute("INSERT INTO sync.snapshot_rows (snapshot_id, line, nip, data) "
                            "VALUES (%s, %s, %s, %s)",
                            (snapshot_id, line, data.get("nip", ""), json.dumps(data)))
            cur.execute("INSERT INTO sync.reconciliations (reconciliation_id, region, "
                        "snapshot_id, year, status, requested_by, reported_at, figures) VALUES "
                        "(%s, %s, %s, %s, %s, 'admin.bkd', now(), %s)",
                        (reconciliation_id, region, snapshot_id, year, status,
                         json.dumps(figures or {"rows": len(rows)})))
            for number, d in enumerate(differences, 1):
                cur.execute(
                    "INSERT INTO sync.differences (reconciliation_id, difference_id, kind, nip, "
                    "field, region_value, province_value, other_instansi, line, decision, "
                    "decided_by, decided_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, CASE WHEN %s IS NULL THEN NULL ELSE now() END)",
                    (reconciliation_id, number, d["kind"], d["nip"], d.get("field"),
                     json.dumps(d["region_value"]) if "region_value" in d else None,
                     json.dumps(d["province_value"]) if "province_value" in d else None,
                     d.get("other_instansi"), d.get("line"), decision,
                     "admin.bkd" if decision else None, decision))
    finally:
        conn.close()
    return reconciliation_id


# -- the AMQP push: the region's broker identity and one way to send over either transport ----


def management(request):
    """The RabbitMQ management API as the test run's administrator (credentials out of the
    URL), as `simasn broker region` uses it."""
    from urllib.parse import unquote, urlsplit

    from shared.brokerauth import Management

    parts = urlsplit(request.config.getoption("RABBIT_API_URI"))
    host = "127.0.0.1" if parts.hostname in (None, "localhost") else parts.hostname
    return Management(f"{parts.scheme}://{host}:{parts.port or 15672}",
                      unquote(parts.username or "guest"), unquote(parts.password or "guest"))


@pytest.fixture
def broker_region(request, rabbit_config):
    """`simasn broker region <code>` as the operator runs it (brokerauth.apply_region): the
    region's exchange, sync's queue bound to it, its own user (a prefix of this test's: users
    are not per vhost). Returns pika's URL for the region's login."""
    import secrets

    from shared import brokerauth

    api = management(request)
    prefix = f"t{secrets.token_hex(4)}-"
    made = []

    def make(code: str) -> str:
        password = secrets.token_urlsafe(16)
        grant = brokerauth.apply_region(api, rabbit_config["vhost"], code, password, prefix)
        made.append(code)
        uri = brokerauth.uri_for(rabbit_config["AMQP_URI"], grant.user, password)
        return uri.replace("pyamqp://", "amqp://", 1)  # kombu's scheme; pika's is amqp

    yield make
    for code in made:
        brokerauth.remove_region(api, code, prefix)


def batch_recorded(url: str, region: str, batch_id: str) -> bool:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM sync.batches WHERE region = %s AND batch_id = %s",
                        (region, batch_id))
            return cur.fetchone() is not None
    finally:
        conn.close()


@dataclass
class Transport:
    """A region sending a batch over HTTP or AMQP, answered the same way: None when the batch
    was taken, else the refusal's code (the HTTP answer's, or the dead letter's in the log).
    Over AMQP there is no reply: it waits until sync recorded the batch or dead-lettered it."""

    name: str
    database_url: str
    amqp_urls: dict = field(default_factory=dict)  # region code -> the region's broker login

    def send(self, region: Region, events: list[dict], body: bytes | None = None,
             headers: dict | None = None) -> str | None:
        if body is None:
            body = json.dumps({"events": events}, separators=(",", ":")).encode()
        headers = headers or region_client.batch_headers(region.code, region.key_id,
                                                         region.secret, body)
        region.sent.extend(events)
        if self.name == "http":
            code, answer = _post(region.base_url, region.code, body, headers)
            assert code == 200 or code >= 400 and answer.get("code"), (code, answer)
            return None if code == 200 else answer["code"]
        batch_id = headers["X-Simasn-Batch-Id"]
        rejections = len(sync_log(self.database_url, region.code, "SyncAmqpMessageRejected"))
        # a batch id taken before (a replay) is answered by its dead letter only
        taken_before = batch_recorded(self.database_url, region.code, batch_id)
        region_client.publish_batches(self.amqp_urls[region.code], region.code, region.key_id,
                                      region.secret, [events], headers=[headers], bodies=[body])

        def outcome():
            dead = sync_log(self.database_url, region.code, "SyncAmqpMessageRejected")
            if len(dead) > rejections:
                return {"code": dead[rejections]["code"]}
            return not taken_before and batch_recorded(self.database_url, region.code,
                                                       batch_id) and {"code": None}

        return wait_for(outcome, timeout=30, message=f"batch {batch_id} taken or refused")["code"]


def _post(base_url: str, region: str, body: bytes, headers: dict):
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the test's own gateway
        f"{base_url}/api/sync/{region}/batches", data=body, method="POST",
        headers={"Content-Type": "application/json", **headers})
    return region_client._call(request)


def accounted(url: str, region: str) -> dict:
    """Every event a batch of `region` carried, accounted for in the sync log: the events the
    taken batches counted are each received, duplicate or refused; each sequence received once
    (a corrected event replaces a quarantined one); the inbound rows by status (applied,
    quarantined, waiting, skipped). Returns the tally."""
    log = sync_log(url, region)
    of = {}
    for entry in log:
        of.setdefault(entry["type"], []).append(entry)
    received = of.get("SyncEventReceived", [])
    duplicates = of.get("SyncEventDuplicated", [])
    refused = of.get("SyncEventRefused", [])
    taken = sum(b["event_count"] for b in of.get("SyncBatchReceived", []))
    assert taken == len(received) + len(duplicates) + len(refused), (taken, len(received),
                                                                     len(duplicates),
                                                                     len(refused))
    rows = inbound(url, region)
    held = {e["sequence"]: e["event_id"] for e in received if not e.get("replaces")}
    replaced = [e for e in received if e.get("replaces")]
    assert len(held) == len(received) - len(replaced)
    for event in replaced:
        held[event["sequence"]] = event["event_id"]
    assert {s: r["event_id"] for s, r in rows.items()} == held
    applied = [e["sequence"] for e in of.get("SyncEventApplied", [])]
    assert len(applied) == len(set(applied)), "an event applied twice"
    statuses = {}
    for sequence, row in rows.items():
        statuses.setdefault(row["status"], []).append(sequence)
    assert sorted(statuses.get("applied", [])) == sorted(applied)
    return {"received": len(received), "duplicate": len(duplicates), "refused": len(refused),
            "rejected": len(of.get("SyncAmqpMessageRejected", [])),
            **{k: sorted(v) for k, v in statuses.items()}}
