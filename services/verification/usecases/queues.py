"""The verification queues: one row per item waiting for a verifier or an administrator (a
request, a proposed record change), built from the requests and records events, and listed per
OPD with its SLA state.

Events may be handled out of order: the upsert keeps what the latest stream version says (an
older event fills only what is still empty), so an item never moves backwards."""

from __future__ import annotations

from services.verification import domain
from services.verification.usecases import inbox
from shared.auth import Principal
from shared.calendar import WIB, today_wib
from shared.errors import NotFound

UPSERT = (
    "INSERT INTO queue_items (item_id, kind, stream_version, stage, opd_id, nip, layanan, "
    "sla_hari_kerja, since, confidential) VALUES (:item, :kind, :version, :stage, :opd, :nip, "
    ":layanan, :sla, CAST(:since AS timestamptz), :confidential) "
    "ON CONFLICT (item_id) DO UPDATE SET "
    "confidential = queue_items.confidential OR EXCLUDED.confidential, "
    "opd_id = COALESCE(EXCLUDED.opd_id, queue_items.opd_id), "
    "nip = COALESCE(EXCLUDED.nip, queue_items.nip), "
    "layanan = COALESCE(EXCLUDED.layanan, queue_items.layanan), "
    "sla_hari_kerja = COALESCE(EXCLUDED.sla_hari_kerja, queue_items.sla_hari_kerja), "
    "stage = CASE WHEN EXCLUDED.stream_version > queue_items.stream_version "
    "THEN EXCLUDED.stage ELSE queue_items.stage END, "
    "since = CASE WHEN EXCLUDED.stream_version > queue_items.stream_version "
    "THEN EXCLUDED.since ELSE queue_items.since END, "
    "claimed_by = CASE WHEN EXCLUDED.stream_version > queue_items.stream_version "
    "THEN NULL ELSE queue_items.claimed_by END, "
    "stream_version = GREATEST(EXCLUDED.stream_version, queue_items.stream_version), "
    "updated_at = now()"
)

#: how a rebuild empties the queue and the inbox before replaying them from zero: an item a
#: verifier holds keeps its claim, a notification its reader has seen stays (neither is in the
#: events); everything else is derived again
RESET = ("DELETE FROM queue_items WHERE claimed_by IS NULL",
         "DELETE FROM inbox WHERE read_at IS NULL")


def request_moved(uow, event) -> None:
    """A request event: the employee is told of the step, and the request's item takes the
    stage it is in afterwards (`domain.REQUEST_STAGES`; one that left the queues is done)."""
    inbox.notify(uow, event)
    payload = event.payload
    uow.execute(UPSERT, {
        "item": event.stream_id, "kind": "request", "version": event.version,
        "stage": domain.REQUEST_STAGES[event.event_type] or "done",
        "opd": payload.get("opd_id"), "nip": payload.get("nip"),
        "layanan": payload.get("layanan"), "sla": payload.get("sla_hari_kerja"),
        "since": event.recorded_at, "confidential": bool(payload.get("confidential"))})


def change_proposed(uow, event) -> None:
    """A record change proposed for an employee waits for a fasilitator of their OPD."""
    nip = event.stream_id.split(":", 1)[1]
    uow.execute(UPSERT, {
        "item": f"change:{nip}:{event.payload['change_id']}", "kind": "record_change",
        "version": event.version, "stage": "pending_change",
        "opd": event.payload.get("opd_id"), "nip": nip, "layanan": None, "sla": None,
        "since": event.recorded_at, "confidential": False})


def change_decided(uow, event) -> None:
    """A record change applied or rejected leaves the queue."""
    nip = event.stream_id.split(":", 1)[1]
    uow.execute(UPSERT, {
        "item": f"change:{nip}:{event.payload['change_id']}", "kind": "record_change",
        "version": event.version, "stage": "done", "opd": None, "nip": nip,
        "layanan": None, "sla": None, "since": event.recorded_at, "confidential": False})


def listing(uow, actor: Principal, opd_id, holidays: frozenset) -> list[dict]:
    """What waits, oldest first, with its SLA state: a fasilitator sees the items of their
    OPDs still to verify; an administrator sees every OPD and the decisions waiting."""
    withheld = False
    if actor.has("administrator", "auditor"):
        scope, stages = None, domain.VERIFIER_STAGES + domain.ADMIN_STAGES
        # a disciplinary procedure (withheld on the bus: no OPD) waits for BKD
        withheld = opd_id is None
    elif "fasilitator" in actor.roles:
        scope, stages = sorted(actor.opd_scope), domain.VERIFIER_STAGES
    else:
        raise NotFound("antrean verifikasi hanya untuk fasilitator dan BKD", field="role")
    if opd_id is not None:
        if scope is not None and opd_id not in scope:
            raise NotFound(f"OPD {str(opd_id)[:40]} tidak ditemukan", field="opd_id")
        scope = [str(opd_id)]
    today = today_wib()
    rows = uow.execute(
        "SELECT item_id, kind, stage, opd_id, nip, layanan, sla_hari_kerja, since, "
        "claimed_by, claimed_at, confidential FROM queue_items WHERE stage = "
        "ANY(:stages) AND ((opd_id IS NOT NULL AND (CAST(:scope AS text[]) IS NULL OR "
        "opd_id = ANY(CAST(:scope AS text[])))) OR (:withheld AND confidential AND "
        "opd_id IS NULL)) ORDER BY since, item_id LIMIT 500",
        {"stages": list(stages), "scope": scope, "withheld": withheld}).mappings().all()
    return [{**{k: v for k, v in row.items() if k not in ("since", "claimed_at")},
             "since": row["since"].isoformat(),
             "claimed_at": row["claimed_at"].isoformat() if row["claimed_at"] else None,
             "sla": domain.sla_state(row["since"].astimezone(WIB).date(),
                                     row["sla_hari_kerja"], today, holidays)}
            for row in rows]
