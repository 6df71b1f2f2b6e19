"""The auditor's side of signed checkpoints (services/signing/checkpoints.py makes them): read
them from the signing log, compare the heads they sealed with each log as it is now, and build
and check RFC 6962 inclusion proofs of one event against the latest one.

Why both the chain and the checkpoints: the hash chain alone catches a row changed in place,
but someone with full control of the database can rewrite a row, recompute every later hash
and the head, and the chain verifies again. A checkpoint holds a log's head hash signed with the
signing service's seal, outside anyone's reach who lacks that key: if the row at the sealed
position no longer has the sealed hash, the log was rewritten after that checkpoint.

A signature is judged by a function given by the caller (`verify(payload) -> (ok, reason)`,
`services.signing.checkpoints.verify_signature` with the auditor's trust roots), so this module
needs no key material and no service import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from psycopg2 import sql

from shared.audit import VerifyResult, existing_schemas
from shared.canonical import SQL_TIMESTAMP_TEXT, chain_hash, content_hash
from shared.errors import Conflict, NotFound
from shared.merkle import inclusion_proof, merkle_root, verify_inclusion

SIGNING_SCHEMA = "signing"
PROOF_FORMAT = "simasn-inclusion-proof/1"
Judge = Callable[[dict], tuple[bool, str]]


@dataclass
class Checkpoint:
    position: int            # of the CheckpointSigned event in the signing log
    recorded_at: str
    payload: dict
    trusted: bool | None = None
    problem: str | None = None

    @property
    def signed_at(self) -> str:
        signed_at = self.payload.get("signed_at") if isinstance(self.payload, dict) else None
        return str(signed_at or self.recorded_at)

    def head(self, schema: str) -> dict | None:
        """The sealed head of `schema`, if this checkpoint has a well-formed one."""
        heads = self.payload.get("heads") if isinstance(self.payload, dict) else None
        head = heads.get(schema) if isinstance(heads, dict) else None
        if (not isinstance(head, dict) or not isinstance(head.get("position"), int)
                or isinstance(head.get("position"), bool) or head["position"] < 0
                or not isinstance(head.get("hash"), str)):
            return None
        return head

    def label(self) -> str:
        return f"checkpoint {self.position} signed at {self.signed_at}"


def read_checkpoints(conn) -> list[Checkpoint]:
    """Every CheckpointSigned in the signing log, in order, not yet judged. Read before the logs
    are walked: every head a checkpoint names was committed before it, so a later snapshot of a
    log always holds the sealed positions unless they were removed."""
    if not existing_schemas(conn, [SIGNING_SCHEMA]):
        return []
    conn.rollback()
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT position, {SQL_TIMESTAMP_TEXT}, payload::text FROM "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                f"{SIGNING_SCHEMA}.events WHERE stream_id = 'checkpoints' "
                "AND event_type = 'CheckpointSigned' ORDER BY position")
            rows = cur.fetchall()
    finally:
        conn.rollback()
    return [Checkpoint(position, recorded_at, orjson.loads(payload))
            for position, recorded_at, payload in rows]


def judge(checkpoints: list[Checkpoint], verify: Judge) -> None:
    """Check each checkpoint's signature; only trusted ones count against the logs."""
    for checkpoint in checkpoints:
        if not isinstance(checkpoint.payload, dict):
            checkpoint.trusted, checkpoint.problem = False, "the payload is not an object"
            continue
        checkpoint.trusted, reason = verify(checkpoint.payload)
        checkpoint.problem = None if checkpoint.trusted else reason


def sealing(checkpoints: list[Checkpoint], schema: str) -> list[tuple[Checkpoint, dict]]:
    """The trusted checkpoints that sealed a non-empty head of `schema`, with that head."""
    return [(c, head) for c in checkpoints
            if c.trusted and (head := c.head(schema)) is not None and head["position"] > 0]


def marks(checkpoints: list[Checkpoint], schema: str) -> set[int]:
    """The positions of `schema` trusted checkpoints sealed: where `verify_log` notes hashes."""
    return {head["position"] for _, head in sealing(checkpoints, schema)}


def _stored_hash(conn, schema: str, position: int) -> str | None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT hash FROM {}.events WHERE position = %s").format(
            sql.Identifier(schema)), (position,))
        row = cur.fetchone()
    conn.rollback()
    return row[0] if row else None


def _what_broke(result: VerifyResult) -> str:
    b = result.position
    problem = result.problem or ""
    if "is missing" in problem:
        return f"event {b} was removed"
    if problem.startswith("prev_hash"):
        return f"event {b - 1} or {b} was changed"
    if "log head says" in problem:
        return f"events from {b} on were removed"
    return f"event {b} was changed"


def findings(conn, schema: str, result: VerifyResult,
             checkpoints: list[Checkpoint]) -> list[str]:
    """What the trusted checkpoints say about one log after its chain was walked (`result`,
    from `verify_log(..., marks=marks(checkpoints, schema))`); empty when every sealed head
    still stands. Each finding names the checkpoint it rests on."""
    covering = sealing(checkpoints, schema)
    found: list[str] = []
    broken_at = None if result.ok else result.position
    if broken_at is not None:
        past_break = [(c, h) for c, h in covering if h["position"] >= broken_at]
        if past_break:
            first, head = past_break[0]
            found.append(f"{_what_broke(result)}; {first.label()} sealed it as it was "
                         f"(positions 1–{head['position']})")
    mismatched: list[tuple[Checkpoint, dict, str]] = []
    verified: list[tuple[Checkpoint, dict]] = []  # sealed heads the walk reached and matched
    for checkpoint, head in covering:
        position = head["position"]
        if position in result.marks:
            stored, root = result.marks[position]
        else:  # at or past a break, or past the chain's end: the walk did not get there
            stored, root = _stored_hash(conn, schema, position), None
        if stored is None:
            mismatched.append((checkpoint, head, f"position {position} it sealed is gone"))
        elif stored != head["hash"]:
            mismatched.append((checkpoint, head,
                               f"position {position} no longer has the hash it sealed"))
        elif root is not None and "merkle_root" in head and (
                head.get("size") != position or head["merkle_root"] != root):
            mismatched.append((checkpoint, head, f"its Merkle root does not match events "
                                                 f"1–{position}"))
        elif root is not None:
            verified.append((checkpoint, head))
    if mismatched:
        latest, head, detail = mismatched[-1]
        lowest = min(h["position"] for _, h, _ in mismatched)
        message = f"rewritten after {latest.label()}: {detail}"
        below = [(c, h) for c, h in verified if h["position"] < lowest]
        if below:
            anchor, anchor_head = max(below, key=lambda item: item[1]["position"])
            message += (f"; positions 1–{anchor_head['position']} still match "
                        f"checkpoint {anchor.position}")
        if len(mismatched) > 1:
            message += f" ({len(mismatched) - 1} earlier checkpoint(s) disagree too)"
        found.append(message)
    return found


def _event_row(conn, schema: str, position: int) -> dict | None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL(
            "SELECT position, event_id::text, stream_id, stream_type, version, event_type, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "schema_version, payload::text, metadata::text, " + SQL_TIMESTAMP_TEXT + ", "
            "content_hash, prev_hash, hash FROM {}.events WHERE position = %s").format(
                sql.Identifier(schema)), (position,))
        row = cur.fetchone()
    if row is None:
        return None
    keys = ("position", "event_id", "stream_id", "stream_type", "version", "event_type",
            "schema_version", "payload", "metadata", "recorded_at", "content_hash",
            "prev_hash", "hash")
    event = dict(zip(keys, row, strict=True))
    event["payload"] = orjson.loads(event["payload"])
    event["metadata"] = orjson.loads(event["metadata"])
    return event


def prove(conn, schema: str, position: int, checkpoints: list[Checkpoint],
          verify: Judge) -> dict:
    """An inclusion proof of event `position` of `schema` against the latest trusted checkpoint
    with a Merkle root that covers it: the event, its audit path, and the checkpoint itself, so
    `check_proof` needs neither the database nor the signing service."""
    if position < 1:
        raise NotFound("positions start at 1", field="position")
    chosen = None
    for checkpoint in reversed(checkpoints):
        head = checkpoint.head(schema)
        size = head.get("size") if head else None
        if not isinstance(size, int) or "merkle_root" not in head or size < position:
            continue
        judge([checkpoint], verify)
        if checkpoint.trusted:
            chosen = checkpoint
            break
    if chosen is None:
        raise NotFound(f"no trusted checkpoint with a Merkle root covers {schema} event "
                       f"{position} yet: ask the signing service for one (sign_checkpoint) "
                       "or wait for the next", field="position")
    head = chosen.head(schema)
    size = head["size"]
    conn.rollback()
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(sql.SQL("SELECT hash FROM {}.events WHERE position <= %s "
                                "ORDER BY position").format(sql.Identifier(schema)), (size,))
            hashes = [row[0] for row in cur.fetchall()]
        event = _event_row(conn, schema, position)
    finally:
        conn.rollback()
    if len(hashes) != size or merkle_root(hashes) != head["merkle_root"]:
        raise Conflict(f"the {schema} log no longer matches {chosen.label()}: run "
                       "`simasn audit verify`", field="position")
    return {
        "format": PROOF_FORMAT,
        "schema": schema,
        "position": position,
        "event": event,
        "leaf_index": position - 1,
        "tree_size": size,
        "audit_path": inclusion_proof(hashes, position - 1),
        "merkle_root": head["merkle_root"],
        "checkpoint": {"position": chosen.position, "recorded_at": chosen.recorded_at,
                       "payload": chosen.payload},
    }


def check_proof(doc: dict, verify: Judge) -> tuple[bool, str]:
    """Check a proof from `prove` offline: the event hashes to its chain hash, that hash is
    leaf `position - 1` of the tree whose root the checkpoint sealed, and the checkpoint's
    signature holds against the auditor's trust roots."""
    try:
        if doc.get("format") != PROOF_FORMAT:
            return False, f"not a {PROOF_FORMAT} document"
        schema, position, event = doc["schema"], int(doc["position"]), doc["event"]
        size, path, root = int(doc["tree_size"]), doc["audit_path"], doc["merkle_root"]
        checkpoint = Checkpoint(int(doc["checkpoint"]["position"]),
                                str(doc["checkpoint"]["recorded_at"]),
                                doc["checkpoint"]["payload"])
        content = content_hash(event["event_id"], event["stream_id"], event["stream_type"],
                               event["event_type"], event["schema_version"], event["payload"],
                               event["metadata"])
        digest = chain_hash(event["prev_hash"], event["position"], event["version"],
                            event["recorded_at"], content)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return False, f"the proof is incomplete: {type(exc).__name__}: {exc}"
    if event["position"] != position or int(doc.get("leaf_index", -1)) != position - 1:
        return False, "the proof names another position than its event"
    if content != event["content_hash"]:
        return False, "the event does not match its content hash (altered)"
    if digest != event["hash"]:
        return False, "the event's position, version, time or hash was altered"
    head = checkpoint.head(schema)
    if head is None or head.get("merkle_root") != root or head.get("size") != size:
        return False, f"{checkpoint.label()} did not seal this root and size for {schema}"
    if not verify_inclusion(digest, position - 1, size, path, root):
        return False, "the audit path does not lead from the event to the sealed root"
    ok, reason = verify(checkpoint.payload)
    if not ok:
        return False, f"{checkpoint.label()} is not trusted: {reason}"
    return True, (f"{schema} event {position} ({event['event_type']} of {event['stream_id']}) "
                  f"is in the log as sealed by {checkpoint.label()} (events 1–{size})")
