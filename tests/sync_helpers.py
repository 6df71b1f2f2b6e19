"""A kabupaten/kota pushing through the gateway as its IT team would, with the reference client
(scripts/region_client.py), and the sync service's log and tables read back."""

from __future__ import annotations

import importlib.util
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

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
    decided keep_province). STAND-IN: the lead swaps it for the real upload and report (issue 14
    part 4, first half) at merge."""
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
