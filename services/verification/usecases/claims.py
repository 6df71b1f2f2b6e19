"""Claiming a queue item: one verifier works on an item at a time. Each claim is an event
(`VerificationItemClaimed` on `queue-item:<item id>`) appended in the transaction that takes the
row, so the log says who held an item and when, and the requests service can put the claim on
the request's timeline."""

from __future__ import annotations

from services.verification import domain
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventstore import ANY_VERSION, NewEvent

#: a claim lapses after this long without a decision; another verifier may then take it over
CLAIM_MINUTES = 60


def stream_for(item_id: str) -> str:
    return f"queue-item:{item_id}"


def claim(uow, actor: Principal, item_id: str) -> dict:
    """Take `item_id` for `actor`; a second verifier gets a conflict naming who holds it. The
    row lock taken first orders concurrent claims, so each claim logs its true predecessor."""
    if not isinstance(item_id, str) or len(item_id) > 120:
        raise ValidationFailed("item_id tidak sah", field="item_id")
    row = uow.execute(
        "SELECT kind, opd_id, stage, claimed_by, claimed_at, claimed_at < now() - "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        f"interval '{CLAIM_MINUTES} minutes' AS lapsed FROM queue_items WHERE item_id = :i "
        "FOR UPDATE", {"i": item_id}).mappings().first()
    if row is None or not (actor.has("administrator") or (
            "fasilitator" in actor.roles and row["opd_id"] in actor.opd_scope)):
        raise NotFound("item antrean tidak ditemukan", field="item_id")
    if not actor.has("administrator") and row["stage"] not in domain.VERIFIER_STAGES:
        raise Forbidden("item ini menunggu keputusan BKD", field="item_id")
    if row["stage"] == "done":
        raise Conflict("item ini sudah selesai", field="item_id")
    holder = row["claimed_by"]
    if holder not in (None, actor.account_id) and not row["lapsed"]:
        raise Conflict(f"sedang dikerjakan {holder}", field="item_id",
                       details={"claimed_by": holder})
    uow.execute("UPDATE queue_items SET claimed_by = :a, claimed_at = now() WHERE item_id = :i",
                {"a": actor.account_id, "i": item_id})
    taken_over = holder not in (None, actor.account_id)
    payload = {
        "item_id": item_id, "kind": row["kind"],
        "request_id": item_id.split(":", 1)[1] if row["kind"] == "request" else None,
        "opd_id": row["opd_id"], "claimed_by": actor.account_id,
        "claimed_by_role": "administrator" if actor.has("administrator") else "fasilitator",
        "previous_claimant": holder,
        "previous_claimed_at": row["claimed_at"].isoformat() if holder else None,
        "lapsed": taken_over}
    uow.append(stream_for(item_id), "QueueItem", ANY_VERSION,
               [NewEvent("VerificationItemClaimed", payload)], reason=claim_reason(payload))
    return {"item_id": item_id, "claimed_by": actor.account_id}


def claim_reason(payload: dict) -> str:
    """The claim in words, for the log and the request's timeline (Bahasa Indonesia)."""
    previous = payload.get("previous_claimant")
    if previous is None:
        return "diambil untuk diverifikasi"
    if previous == payload["claimed_by"]:
        return "klaim diperpanjang"
    return (f"diambil alih dari {previous}: klaim lewat {CLAIM_MINUTES} menit tanpa "
            "keputusan")
