"""A region's signed request checked, and a batch recorded: the key, the signature and the
timestamp window first (nothing about a request is believed before), then the batch id (taken
once, for ever), the body's shape, and every event into the log with its raw payload and into
`inbound`, in the one transaction that records the batch. Applying is the worker's
(usecases/applying.py): the answer never waits for records."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time

import orjson
from marshmallow import ValidationError

from services.sync import domain
from services.sync.exceptions import (
    BatchInvalid,
    BatchMalformed,
    BatchReplayed,
    BatchTooLarge,
    BatchTooManyEvents,
    KeyRetired,
    KeyUnknown,
    SignatureInvalid,
    SignatureMissing,
    TimestampOutsideWindow,
)
from services.sync.usecases import STREAM_TYPE, regions, stream
from shared.brokerauth import REGION_EXCHANGE_PREFIX
from shared.contracts import sync as c
from shared.errors import SimasnError
from shared.eventstore import ANY_VERSION, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)
_BATCH = c.Batch()


def _header(headers: dict, name: str) -> str:
    """A header by name, whatever its case (HTTP headers are case-insensitive)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return ""


def authenticate(uow, settings, region: str, request: dict, now: float | None = None,
                 body: bytes = b"", queued: bool = False) -> str:
    """The key id that signed `request` for `region`, or the refusal (401). For a batch the
    second line of the signature base is the batch id, for a signed read the method and path.
    `queued` (the AMQP push): a message may wait in the queue while sync is down, so only a
    timestamp from the future beyond the window is refused; its replay is refused by the batch
    id (taken for ever) and only the region's broker user can publish it."""
    headers = request["headers"]
    key_id = _header(headers, domain.H_KEY_ID)
    stamp = _header(headers, domain.H_TIMESTAMP)
    signature = _header(headers, domain.H_SIGNATURE)
    claimed = _header(headers, domain.H_REGION)
    required = [(domain.H_REGION, claimed), (domain.H_KEY_ID, key_id),
                (domain.H_TIMESTAMP, stamp), (domain.H_SIGNATURE, signature)]
    if request["method"] == "POST":
        required.append((domain.H_BATCH_ID, _header(headers, domain.H_BATCH_ID)))
    for name, value in required:
        if not value:
            raise SignatureMissing(f"header {name} wajib", field=name)
    if claimed != region:
        raise KeyUnknown(f"{domain.H_REGION} tidak sama dengan daerah di alamat",
                         field=domain.H_REGION)
    key = uow.execute("SELECT region, sealed_secret, status FROM region_keys WHERE key_id = :k",
                      {"k": key_id[:80]}).first()
    if key is None or key[0] != region:
        raise KeyUnknown("kunci tidak dikenal untuk daerah ini", field=domain.H_KEY_ID)
    if key[2] != "active":
        raise KeyRetired("kunci ini sudah dicabut; gunakan kunci baru", field=domain.H_KEY_ID)
    secret = settings.box.open(key[1])
    if secret is None:
        log.error("sync_key_unsealable", region=region, key_id=key_id)
        raise KeyUnknown("kunci tidak dapat dibuka; hubungi BKD", field=domain.H_KEY_ID)
    second = (_header(headers, domain.H_BATCH_ID) if request["method"] == "POST"
              else f"{request['method']} {request['path']}")
    if not domain.signature_matches(secret, stamp, second, body, signature):
        log.warning("sync_signature_invalid", region=region, key_id=key_id)
        raise SignatureInvalid("tanda tangan tidak cocok dengan isi permintaan",
                               field=domain.H_SIGNATURE)
    moment = domain.parse_timestamp(stamp)
    now = time.time() if now is None else now
    fresh = (moment is not None and moment <= now + settings.replay_window) if queued else \
        (moment is not None and domain.within_window(moment, now, settings.replay_window))
    if not fresh:
        raise TimestampOutsideWindow(
            f"{domain.H_TIMESTAMP} harus detik Unix dalam {settings.replay_window} detik dari "
            "waktu server", field=domain.H_TIMESTAMP,
            details={"server_time": int(now), "window_seconds": settings.replay_window})
    return key_id


def _body(request: dict, settings) -> bytes:
    try:
        body = base64.b64decode(request.get("body_base64") or "", validate=True)
    except (binascii.Error, ValueError):
        raise BatchMalformed("badan permintaan tidak terbaca", field="body") from None
    if len(body) > settings.max_bytes:
        raise BatchTooLarge(f"batch maksimal {settings.max_bytes} byte", field="body")
    return body


def _events(body: bytes, settings) -> tuple[list[dict], list[str]]:
    """The batch's events validated (BatchInvalid names the field) and each one's raw JSON."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BatchMalformed("batch bukan JSON yang sah", field="body") from None
    if isinstance(document, dict) and isinstance(document.get("events"), list) and \
            len(document["events"]) > settings.max_events:
        raise BatchTooManyEvents(f"batch maksimal {settings.max_events} peristiwa",
                                 field="events")
    try:
        events = _BATCH.load(document)["events"]
    except ValidationError as exc:
        raise BatchInvalid.from_marshmallow(exc.messages) from None
    seen_sequences, seen_ids = set(), set()
    for index, event in enumerate(events):
        event["event_id"] = str(event["event_id"])
        if event["sequence"] in seen_sequences:
            raise BatchInvalid("urutan yang sama dua kali dalam satu batch",
                               field=f"events.{index}.sequence")
        if event["event_id"] in seen_ids:
            raise BatchInvalid("id peristiwa yang sama dua kali dalam satu batch",
                               field=f"events.{index}.event_id")
        seen_sequences.add(event["sequence"])
        seen_ids.add(event["event_id"])
    raws = [orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
            for raw in document["events"]]
    return events, raws


def receive(uow, settings, region: str, request: dict, queued: bool = False) -> dict:
    """Check and record one batch; answer per event: received (to be applied), waiting (held
    for a missing sequence), duplicate, refused; and the sequences still missing. The HTTP
    route and the AMQP push (`queued`, receive_message) both come here."""
    body = _body(request, settings)
    key_id = authenticate(uow, settings, region, request, body=body, queued=queued)
    batch_id = _header(request["headers"], domain.H_BATCH_ID)
    if not domain.BATCH_ID.match(batch_id):
        raise BatchInvalid(f"{domain.H_BATCH_ID}: 8-80 huruf, angka, . _ : -",
                           field=domain.H_BATCH_ID)
    events, raws = _events(body, settings)
    state = regions.lock(uow, region)
    taken = uow.execute("INSERT INTO batches (region, batch_id, key_id, event_count) "
                        "VALUES (:r, :b, :k, :n) ON CONFLICT DO NOTHING RETURNING batch_id",
                        {"r": region, "b": batch_id, "k": key_id, "n": len(events)}).first()
    if taken is None:
        raise BatchReplayed("id batch ini sudah pernah diterima; kirim ulang peristiwanya "
                            "dengan id batch baru", field=domain.H_BATCH_ID)
    log_events = [NewEvent("SyncBatchReceived", {
        "region": region, "batch_id": batch_id, "key_id": key_id,
        "body_sha256": hashlib.sha256(body).hexdigest(), "event_count": len(events)})]
    if state["silent_since"] is not None:
        log_events.append(NewEvent("RegionResumed", {"region": region, "batch_id": batch_id}))
    outcomes, log_events = _record_events(uow, region, batch_id, events, raws, log_events)
    answer = _positions(uow, region, state, events, log_events)
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, log_events,
               reason=f"batch {batch_id}")
    for outcome in outcomes:
        if outcome["outcome"] == "received" and outcome["sequence"] > answer["received_through"]:
            outcome["outcome"] = "waiting"
    return {"region": region, "batch_id": batch_id, "events": outcomes, **answer}


def _record_events(uow, region, batch_id, events, raws, log_events):
    """Each event decided against what holds its sequence (and its id) already."""
    existing = {row["sequence"]: dict(row) for row in uow.execute(
        "SELECT sequence, event_id::text AS event_id, status FROM inbound WHERE region = :r "
        "AND sequence = ANY(:s)", {"r": region, "s": [e["sequence"] for e in events]}
    ).mappings()}
    ids_elsewhere = {row[0]: row[1] for row in uow.execute(
        "SELECT event_id::text, sequence FROM inbound WHERE region = :r AND "
        "event_id = ANY(CAST(:e AS uuid[]))", {"r": region, "e": [e["event_id"] for e in events]})}
    outcomes, inserts = [], []
    for event, raw in zip(events, raws, strict=True):
        sequence, event_id = event["sequence"], event["event_id"]
        held = existing.get(sequence)
        answer = {"sequence": sequence, "event_id": event_id, "outcome": "received",
                  "code": None, "replaces": None}
        outcomes.append(answer)
        if held is not None and held["event_id"] == event_id:
            answer["outcome"] = "duplicate"
            log_events.append(NewEvent("SyncEventDuplicated", {
                "region": region, "batch_id": batch_id, "sequence": sequence,
                "event_id": event_id}))
            continue
        elsewhere = ids_elsewhere.get(event_id)
        if elsewhere is not None or (held is not None and held["status"] != domain.QUARANTINED):
            answer["outcome"] = "refused"
            answer["code"] = "event_id_reused" if elsewhere is not None else "sequence_taken"
            log_events.append(NewEvent("SyncEventRefused", {
                "region": region, "batch_id": batch_id, "sequence": sequence,
                "event_id": event_id, "code": answer["code"],
                "existing_event_id": held["event_id"] if held else event_id, "raw": raw}))
            continue
        row = {"r": region, "s": sequence, "e": event_id, "k": event["kind"],
               "n": event["nip"], "d": orjson.dumps(event["data"]).decode(), "b": batch_id}
        if held is not None:  # a corrected event takes the place of a quarantined one
            answer["replaces"] = held["event_id"]
            uow.execute("UPDATE inbound SET event_id = :e, kind = :k, nip = :n, "
                        "data = CAST(:d AS jsonb), batch_id = :b, received_at = now(), "
                        "status = 'waiting', attempts = 0, refusal = NULL, decided_at = NULL "
                        "WHERE region = :r AND sequence = :s", row)
        else:
            inserts.append(row)
        log_events.append(NewEvent("SyncEventReceived", {
            "region": region, "batch_id": batch_id, "sequence": sequence, "event_id": event_id,
            "kind": event["kind"], "nip": event["nip"], "raw": raw, "waiting_for_gap": False,
            "replaces": answer["replaces"]}))
    if inserts:  # one statement for the batch (an executemany is a round trip per row)
        uow.execute("INSERT INTO inbound (region, sequence, event_id, kind, nip, data, "
                    "batch_id, status) SELECT :r, s, e, k, n, CAST(d AS jsonb), :b, 'waiting' "
                    "FROM unnest(CAST(:s AS bigint[]), CAST(:e AS uuid[]), CAST(:k AS text[]), "
                    "CAST(:n AS text[]), CAST(:d AS text[])) AS v(s, e, k, n, d)",
                    {"r": region, "b": batch_id, **{key: [row[key] for row in inserts]
                                                    for key in ("s", "e", "k", "n", "d")}})
    return outcomes, log_events


def _positions(uow, region, state, events, log_events) -> dict:
    """The region's positions after this batch: contiguous prefix received, the gaps, since
    when a gap is open; received events held for a gap are marked so in the log."""
    through = state["received_through"]
    above = [row[0] for row in uow.execute(
        "SELECT sequence FROM inbound WHERE region = :r AND sequence > :t ORDER BY sequence",
        {"r": region, "t": through})]
    through = domain.advance(through, above)
    missing = domain.missing_ranges(through, [s for s in above if s > through])
    for event in log_events:
        if event.event_type == "SyncEventReceived" and event.payload["sequence"] > through:
            event.payload["waiting_for_gap"] = True
    last = max([state["last_sequence"], *(e["sequence"] for e in events)])
    gap_since = state["gap_open_since"]
    if missing and gap_since is None:
        gap_clause = "gap_open_since = now(), gap_reported_at = NULL"
    elif not missing and gap_since is not None:
        gap_clause = "gap_open_since = NULL, gap_reported_at = NULL"
        log_events.append(NewEvent("SyncGapClosed", {"region": region,
                                                     "received_through": through}))
    else:
        gap_clause = "gap_open_since = gap_open_since"
    uow.execute(f"UPDATE regions SET last_received_at = now(), last_sequence = :l, "  # noqa: S608 - the clause is one of three constants above
                f"received_through = :t, silent_since = NULL, {gap_clause} WHERE code = :r",
                {"l": last, "t": through, "r": region})
    return {"received_through": through, "applied_through": state["applied_through"],
            "missing": missing}


def receive_message(db, settings, delivered: dict) -> dict | None:
    """A batch published by a region on its exchange (the AMQP push): the same checks and the
    same recording as an HTTP batch (`receive`), committed before the message is acked. A
    message refused (signature, shape, batch id...) is dead-lettered: recorded in the region's
    log with the reason (SyncAmqpMessageRejected, its headers and the body's digest) and counted
    in the region's status, then acked, never requeued. A redelivery of a batch already taken
    (sync stopped between commit and ack) is acked quietly. A transient failure raises: the
    message goes back to the queue."""
    region = delivered["region"]
    headers = delivered["headers"]
    request = {"method": "POST", "path": f"amqp:{REGION_EXCHANGE_PREFIX}{region}",
               "headers": headers, "body_base64": delivered["body_base64"]}
    try:
        if _header(headers, domain.H_REGION) != region:
            raise KeyUnknown(f"{domain.H_REGION} tidak sama dengan daerah exchange",
                             field=domain.H_REGION)
        with db.transaction(reason="batch daerah (AMQP)") as uow:
            return receive(uow, settings, region, request, queued=True)
    except SimasnError as exc:
        if getattr(exc, "transient", False):
            raise
        if isinstance(exc, BatchReplayed) and delivered.get("redelivered"):
            log.info("sync_amqp_redelivered", region=region,
                     batch_id=_header(headers, domain.H_BATCH_ID)[:80])
            return None
        _dead_letter(db, region, headers, delivered["body_base64"], exc)
        return None


def _dead_letter(db, region: str, headers: dict, body_base64: str, exc) -> None:
    body = base64.b64decode(body_base64 or "")
    reason = {"code": exc.code, "message": str(exc)[:500],
              "field": getattr(exc, "field", None)}
    kept = {name: _header(headers, name)[:200] for name in domain.SIGNED_HEADERS}
    with db.transaction(reason="pesan AMQP ditolak") as uow:
        found = uow.execute(
            "UPDATE regions SET amqp_rejected = amqp_rejected + 1, last_amqp_rejection = "
            "CAST(:j AS jsonb) WHERE code = :c RETURNING code",
            {"c": region, "j": orjson.dumps({**reason, "at": time.time(),
                                             "batch_id": kept[domain.H_BATCH_ID]}).decode()}
        ).first()
        if found is None:  # no such region: nobody to tell but the log
            log.error("sync_amqp_unknown_region", region=region, **reason)
            return
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent(
            "SyncAmqpMessageRejected", {"region": region, **reason, "headers": kept,
                                        "body_sha256": hashlib.sha256(body).hexdigest(),
                                        "body_bytes": len(body)})])
    log.warning("sync_amqp_rejected", region=region, **reason)
