"""When the signing service signs a checkpoint of every service's log, and what it does with
them: once a log grows its new head is signed (at most one per SIGNING_CHECKPOINT_SECONDS,
replicas agreeing through an advisory lock) or on demand; each committed checkpoint is copied
to the witness; administrators and auditors list them, anyone reads the published ones.

Reading the heads, sealing and verifying are the adapter services/signing/checkpoints.py's
(also used by `simasn audit`); `work` is the service's SigningWork
(services/signing/dependencies.py): the seal's key store, the TSA, the Merkle cache, the
witness and how far it is known to hold the log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from eventlet import tpool

from services.signing import checkpoints
from shared import SERVICES
from shared.canonical import SQL_TIMESTAMP_TEXT
from shared.errors import NotFound, SimasnError
from shared.logging import get_logger
from shared.witness import FORMAT, object_name, parse

log = get_logger(__name__)
#: seconds between two looks at the logs' heads (a checkpoint is made once one grew)
TICK = 5


def view(position: int, payload: dict) -> dict:
    return {"position": position, "signed_at": payload["signed_at"],
            "trigger": payload["trigger"], "certificate_serial": payload["certificate_serial"],
            "heads": {schema: {"position": head.get("position"), "hash": head.get("hash")}
                      for schema, head in payload["heads"].items()}}


def tick(db, work) -> None:
    """The timer's look: a checkpoint if a log grew and the last one is old enough, then every
    checkpoint not yet in the witness written there."""
    seal(db, work, "timer", work.checkpoint_seconds)
    witness_backlog(db, work)


def on_demand(db, work, actor) -> dict:
    """A checkpoint now (e.g. before an audit or a migration): administrators and services."""
    actor.require("administrator", "system")
    return seal(db, work, "on_demand", None)


def seal(db, work, trigger: str, min_age: float | None) -> dict | None:
    """Sign the heads of every log and append the checkpoint. With `min_age` (the timer) only
    if a log grew and no other replica is at it; without, wait for the lock."""
    with db.transaction() as uow:
        if not uow.execute("SELECT pg_try_advisory_xact_lock(hashtext('signing.checkpoint'))"
                           ).scalar():
            if min_age is not None:
                return None  # another replica is signing one right now
            uow.execute("SELECT pg_advisory_xact_lock(hashtext('signing.checkpoint'))")
        if min_age is not None and not _grown_and_due(uow, min_age):
            return None
        heads = checkpoints.heads(uow.dbapi, SERVICES, cache=work.merkle_cache)
        # the seal as the key store has it now: one replaced (or taken out) by the operator
        # is used (or missed: 409 no_signing_key) without a restart, as officials' keys are
        work.keystore.refresh()
        payload = tpool.execute(checkpoints.sign, work.keystore.signer("seal"), heads,
                                dt.datetime.now(dt.UTC), trigger, work.signers.timestamper)
        position = checkpoints.record(uow, payload)
    log.info("checkpoint_signed", position=position, trigger=trigger)
    witness_backlog(db, work)
    return view(position, payload)


def _grown_and_due(uow, min_age: float) -> bool:
    """A log grew since the last checkpoint, and that one is old enough that the next
    timer tick would come too late."""
    last = uow.execute("SELECT position, payload, extract(epoch FROM now() - recorded_at) "
                       "FROM events WHERE stream_id = :s ORDER BY position DESC LIMIT 1",
                       {"s": checkpoints.STREAM_ID}).first()
    if last is not None and float(last[2]) < min_age - TICK:
        return False
    current = checkpoints.heads(uow.dbapi, SERVICES, merkle=False)
    return checkpoints.grew(
        None if last is None else {"position": last[0], "payload": last[1]}, current)


@dataclass
class WitnessMark:
    """How far the witness holds the checkpoints, kept by the provider across workers (a
    worker's handle forwards reads only): every checkpoint up to `through` is there (None: not
    looked yet, so the first tick of a process lists the witness once, not every tick)."""

    through: int | None = None


def witness_backlog(db, work, batch: int = 100) -> int:
    """Write to the witness every committed checkpoint it does not hold yet, oldest first,
    as read back from the log (so the bytes are the same whoever writes them). A witness
    that cannot be reached is tried again at the next tick; returns how many were new."""
    witness = work.witness
    if witness is None:
        return 0
    mark = work.witness_mark
    written = 0
    try:
        if mark.through is None:
            held = witness.positions()
            mark.through = held[-1] if held else 0
        while True:
            with db.transaction() as uow:
                rows = uow.execute(
                    f"SELECT position, {SQL_TIMESTAMP_TEXT}, payload FROM events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                    "WHERE stream_id = :s AND event_type = :t AND position > :after "
                    "ORDER BY position LIMIT :n",
                    {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE,
                     "after": mark.through, "n": batch}).all()
            for position, recorded_at, payload in rows:
                written += witness.put_checkpoint(position, recorded_at, payload)
                mark.through = position
            if len(rows) < batch:
                return written
    except SimasnError as exc:
        log.error("witness_behind", witness=witness.location, witnessed=mark.through,
                  code=exc.code, error=exc.message)
        return written


def listing(uow, actor, limit) -> list[dict]:
    """The newest checkpoints first (administrators and auditors)."""
    actor.require("administrator", "auditor")
    rows = uow.execute("SELECT position, payload FROM events WHERE stream_id = :s ORDER BY "
                       "position DESC LIMIT :n", {"s": checkpoints.STREAM_ID,
                                                 "n": max(1, min(int(limit), 500))}).all()
    return [view(position, payload) for position, payload in rows]


def status(db, work, actor) -> dict:
    """The logs' chain status as the auditor's page shows it (issue 16): for each service's
    log, its head now and what the newest signed checkpoint holds of it — whether the log was
    continuous up to the checkpointed head when it was sealed (a Merkle root was computed over
    every event, `checkpoints.heads`), and whether the event it ended at is still the one it
    signed; how many events came since; and how far the witness holds the checkpoints. The
    full recomputation from genesis (content and chain hashes) stays `simasn audit verify`:
    too long for an HTTP worker on a large log (docs/design/web-api.md)."""
    actor.require("administrator", "auditor")
    with db.transaction() as uow:
        last = uow.execute(
            f"SELECT position, {SQL_TIMESTAMP_TEXT}, payload FROM events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "WHERE stream_id = :s AND event_type = :t ORDER BY position DESC LIMIT 1",
            {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE}).first()
        now = checkpoints.heads(uow.dbapi, SERVICES, merkle=False)
        logs = []
        for schema in SERVICES:
            head = now[schema]
            signed = (last[2]["heads"].get(schema) if last else None) or {}
            at = signed.get("position")
            still = (checkpoints.hash_at(uow.dbapi, schema, at) == signed.get("hash")
                     if at else None)
            if last is None or at is None:
                state = "unchecked"
            elif at and (not signed.get("merkle_root") or not still):
                state = "broken"
            else:
                state = "holds"
            logs.append({"log": schema, "position": head["position"], "hash": head["hash"],
                         "checkpointed_position": at, "checkpointed_hash": signed.get("hash"),
                         "merkle_root": signed.get("merkle_root"),
                         "unchanged_since_checkpoint": still,
                         "events_since_checkpoint": head["position"] - (at or 0),
                         "status": state})
    witness = work.witness
    return {"checkpoint": view(last[0], last[2]) if last else None,
            "checkpoint_recorded_at": last[1] if last else None, "logs": logs,
            "witness": {"configured": witness is not None,
                        "location": witness.location if witness is not None else None,
                        "through": work.witness_mark.through if witness is not None else None}}


# -- published checkpoints (no login) --------------------------------------------------------

def published(db, work, after: int, limit: int) -> dict:
    """The checkpoints anyone may fetch: the witness's when one is configured (what an
    auditor holds the database against; the database is not asked), else the signing log's;
    positions only."""
    if work.witness is not None:
        positions = [p for p in work.witness.positions() if p > after]
        source = "witness"
    else:
        with db.transaction() as uow:
            positions = list(uow.execute(
                "SELECT position FROM events WHERE stream_id = :s AND event_type = :t AND "
                "position > :after ORDER BY position LIMIT :n",
                {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE, "after": after,
                 "n": limit + 1}).scalars())
        source = "log"
    return {"checkpoints": [{"position": p} for p in positions[:limit]],
            "more": len(positions) > limit, "source": source}


def published_one(db, work, position) -> dict:
    """One published checkpoint (a position, or `latest`), as the witness holds it."""
    text = str(position)[:20]
    if text != "latest" and not text.isdigit():
        raise NotFound("checkpoint tidak ditemukan", field="position")
    if work.witness is not None:
        if text == "latest":
            positions = work.witness.positions()
            if not positions:
                raise NotFound("belum ada checkpoint", field="position")
            text = str(positions[-1])
        if int(text) < 1:
            raise NotFound("checkpoint tidak ditemukan", field="position")
        try:
            held = work.witness.get(object_name(int(text)))
        except NotFound:  # its own message names the witness: not for anonymous callers
            raise NotFound("checkpoint tidak ditemukan", field="position") from None
        return parse(held.data)
    with db.transaction() as uow:
        row = uow.execute(
            f"SELECT position, {SQL_TIMESTAMP_TEXT}, payload FROM events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "WHERE stream_id = :s AND event_type = :t AND (:p = 0 OR position = :p) "
            "ORDER BY position DESC LIMIT 1",
            {"s": checkpoints.STREAM_ID, "t": checkpoints.EVENT_TYPE,
             "p": 0 if text == "latest" else int(text)}).first()
    if row is None or (text != "latest" and int(text) == 0):
        raise NotFound("checkpoint tidak ditemukan", field="position")
    return {"format": FORMAT, "position": row[0], "recorded_at": row[1], "payload": row[2]}
