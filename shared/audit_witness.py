"""The auditor's side of the witness: hold the database against the checkpoints kept outside
it (shared/witness.py), prove with RFC 6962 consistency proofs that a log only grew between
two checkpoints, and remember between runs the heads the auditor accepted (its saved state,
as immudb's clients keep theirs) so the next run proves the log only grew since.

Why the witness: a superuser of the database can rewrite an event, recompute every later hash
and the head, and delete the signing log's checkpoints; the chain verifies and nothing in the
database tells. The witness still holds the signed Merkle root of every checkpoint: the first
sealed size at which the database's tree no longer gives the sealed root pins the rewrite
between that checkpoint and the last one that still holds.

Signatures are judged by the caller's `verify(payload) -> (ok, reason)`, as in
shared/audit_checkpoints.py."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from psycopg2 import sql

from shared.audit_checkpoints import Checkpoint, Judge, judge
from shared.errors import NotFound, ValidationFailed
from shared.merkle import Frontier, consistency_proof_stream, verify_consistency
from shared.witness import Witness, parse, position_of

STATE_FORMAT = "simasn-auditor-state/1"
CONSISTENCY_FORMAT = "simasn-consistency-proof/1"


@dataclass
class Witnessed:
    """What the witness holds: its checkpoints (judged) and anything odd about the objects."""

    location: str
    checkpoints: list[Checkpoint]
    problems: list[str] = field(default_factory=list)

    def trusted(self) -> list[Checkpoint]:
        return [c for c in self.checkpoints if c.trusted]


def read_witness(witness: Witness, verify: Judge) -> Witnessed:
    """Every checkpoint object of the witness, its signature checked. An object that is not a
    checkpoint, names another position than it holds, or was written more than once (S3
    versions) is reported; the first version is the one judged."""
    found = Witnessed(witness.location, [])
    for name in witness.names():
        held = witness.get(name)
        try:
            doc = parse(held.data)
        except ValueError as exc:
            found.problems.append(f"{name}: unreadable ({exc})")
            continue
        if doc["position"] != position_of(name):
            found.problems.append(f"{name}: holds checkpoint {doc['position']}")
            continue
        if held.versions > 1:
            found.problems.append(f"{name}: {held.versions - 1} later version(s) written over "
                                  "it; the first is the one that counts")
        found.checkpoints.append(Checkpoint(doc["position"], str(doc.get("recorded_at") or ""),
                                            doc["payload"]))
    judge(found.checkpoints, verify)
    return found


def _sealed_sizes(checkpoints: list[Checkpoint], schema: str) -> list[tuple[Checkpoint, dict]]:
    """Trusted checkpoints with a Merkle root for `schema`, by sealed size (the first of each
    size: a later one of the same size must agree with the database all the same)."""
    sealed = []
    for checkpoint in checkpoints:
        head = checkpoint.head(schema) if checkpoint.trusted else None
        if head is None or not isinstance(head.get("size"), int) or "merkle_root" not in head:
            continue
        sealed.append((checkpoint, head))
    return sorted(sealed, key=lambda item: (item[1]["size"], item[0].position))


def _hashes(conn, schema: str, upto: int | None = None) -> Iterator[tuple[int, str]]:
    """(position, chain hash) of the log in order, streamed in one REPEATABLE READ snapshot
    (the caller rolls back)."""
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    with conn.cursor(name=f"witness_{schema}") as cur:
        cur.itersize = 20000
        if upto is None:
            cur.execute(sql.SQL("SELECT position, hash FROM {}.events ORDER BY position").format(
                sql.Identifier(schema)))
        else:
            cur.execute(sql.SQL("SELECT position, hash FROM {}.events WHERE position <= %s "
                                "ORDER BY position").format(sql.Identifier(schema)), (upto,))
        yield from cur


@dataclass
class Holding:
    schema: str
    checked: int                 # trusted witness checkpoints compared
    held_through: int = 0        # events 1..held_through match every checkpoint up to there
    anchor: Checkpoint | None = None   # the last checkpoint that still holds
    broken: Checkpoint | None = None   # the first that does not
    broken_size: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def message(self) -> str:
        if self.ok:
            if not self.checked:
                return "no witnessed checkpoint sealed this log"
            return (f"matches the witness: {self.checked} checkpoint(s), events "
                    f"1–{self.held_through}")
        first = self.held_through + 1
        where = (f"event {first} was changed or removed" if self.broken_size == first
                 else f"an event in positions {first}–{self.broken_size} was changed or removed")
        text = (f"{where}: witnessed {self.broken.label()} sealed events 1–{self.broken_size} "
                f"and the database no longer gives its {self.problem}")
        if self.anchor is not None:
            text += f"; events 1–{self.held_through} still match {self.anchor.label()}"
        return text


def hold_against(conn, schema: str, checkpoints: list[Checkpoint]) -> Holding:
    """Walk the log's chain hashes once, checking at each size a trusted witness checkpoint
    sealed that the database gives the same last hash and Merkle root. Stops at the first that
    does not hold: the change lies after the last that held and at or before it."""
    sealed = _sealed_sizes(checkpoints, schema)
    result = Holding(schema, len(sealed))
    sealed = [item for item in sealed if item[1]["size"] > 0]
    if not sealed:
        return result
    conn.rollback()
    frontier = Frontier()
    index = 0
    try:
        for position, digest in _hashes(conn, schema, sealed[-1][1]["size"]):
            if position != frontier.size + 1:
                break  # a hole: the sealed size just past it does not hold
            frontier.append(digest)
            while index < len(sealed) and sealed[index][1]["size"] == position:
                checkpoint, head = sealed[index]
                if head["merkle_root"] != frontier.root():
                    return _broken(result, checkpoint, position, "Merkle root")
                if head.get("position") == position and head.get("hash") != digest:
                    return _broken(result, checkpoint, position, "last hash")
                result.held_through, result.anchor = position, checkpoint
                index += 1
    finally:
        conn.rollback()
    if index < len(sealed):
        checkpoint, head = sealed[index]
        return _broken(result, checkpoint, head["size"], "events (the log ends before them)")
    return result


def _broken(result: Holding, checkpoint: Checkpoint, size: int, what: str) -> Holding:
    result.broken, result.broken_size, result.problem = checkpoint, size, what
    return result


# -- consistency between two checkpoints -------------------------------------------------------

def pick(checkpoints: list[Checkpoint], position: int | None, default: int) -> Checkpoint:
    """The trusted checkpoint at signing log `position`, or the default'th trusted one."""
    trusted = [c for c in checkpoints if c.trusted]
    if position is None:
        if len(trusted) < 2:
            raise NotFound("a consistency proof needs two trusted checkpoints; "
                           f"{len(trusted)} found", field="checkpoint")
        return trusted[default]
    for checkpoint in trusted:
        if checkpoint.position == position:
            return checkpoint
    raise NotFound(f"no trusted checkpoint at position {position}", field="checkpoint")


def consistency(conn, schema: str, old: Checkpoint, new: Checkpoint) -> dict:
    """The RFC 6962 consistency proof, built from the database's chain hashes, that `schema`'s
    tree sealed by `old` is a prefix of the one sealed by `new`, and whether it holds against
    both signed roots. A document `check_consistency` re-checks without the database."""
    old_head, new_head = old.head(schema), new.head(schema)
    doc = {"format": CONSISTENCY_FORMAT, "schema": schema,
           "old": {"position": old.position, "recorded_at": old.recorded_at,
                   "payload": old.payload},
           "new": {"position": new.position, "recorded_at": new.recorded_at,
                   "payload": new.payload}}
    if not all(h and isinstance(h.get("size"), int) and "merkle_root" in h
               for h in (old_head, new_head)):
        return {**doc, "holds": False, "reason": "a checkpoint has no Merkle root for this log"}
    m, n = old_head["size"], new_head["size"]
    if n < m:
        return {**doc, "holds": False, "reason": f"the log shrank from {m} to {n} events"}
    conn.rollback()
    try:
        proof, _, _ = consistency_proof_stream(
            (digest for _, digest in _hashes(conn, schema, n)), m, n)
    except ValueError:
        return {**doc, "holds": False,
                "reason": f"the database holds fewer than the {n} events sealed"}
    finally:
        conn.rollback()
    doc.update(old_size=m, new_size=n, proof=proof)
    holds, reason = check_consistency(doc)
    return {**doc, "holds": holds, "reason": reason}


def check_consistency(doc: dict, verify: Judge | None = None) -> tuple[bool, str]:
    """Check a consistency document offline: the proof leads from the old checkpoint's sealed
    root to the new one's (and, with `verify`, both signatures hold)."""
    try:
        if doc.get("format") != CONSISTENCY_FORMAT:
            return False, f"not a {CONSISTENCY_FORMAT} document"
        schema = doc["schema"]
        old = Checkpoint(int(doc["old"]["position"]), str(doc["old"]["recorded_at"]),
                         doc["old"]["payload"])
        new = Checkpoint(int(doc["new"]["position"]), str(doc["new"]["recorded_at"]),
                         doc["new"]["payload"])
        m, n, proof = int(doc["old_size"]), int(doc["new_size"]), list(doc["proof"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return False, f"the proof is incomplete: {type(exc).__name__}: {exc}"
    old_head, new_head = old.head(schema), new.head(schema)
    if not old_head or not new_head or (old_head.get("size"), new_head.get("size")) != (m, n):
        return False, "the sizes are not the ones the checkpoints sealed"
    if verify is not None:
        for checkpoint in (old, new):
            ok, reason = verify(checkpoint.payload)
            if not ok:
                return False, f"{checkpoint.label()} is not trusted: {reason}"
    if not verify_consistency(m, n, old_head.get("merkle_root", ""),
                              new_head.get("merkle_root", ""), proof):
        return False, (f"events 1–{m} sealed by {old.label()} are not a prefix of events "
                       f"1–{n} sealed by {new.label()}: the log was rewritten in between")
    return True, (f"{schema}: events 1–{m} sealed by {old.label()} are a prefix of events "
                  f"1–{n} sealed by {new.label()} (proof of {len(proof)} hash(es))")


# -- the auditor's saved state -------------------------------------------------------------------

def load_state(path: str | os.PathLike) -> dict:
    """The heads the auditor accepted last time ({} if the file does not exist yet)."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed(f"{path} is not a readable state file: {exc}",
                               field="state") from None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT or not isinstance(
            doc.get("logs"), dict):
        raise ValidationFailed(f"{path} is not a {STATE_FORMAT} file", field="state")
    return doc["logs"]


def save_state(path: str | os.PathLike, logs: dict) -> None:
    """Replace the state file at once (a crash leaves the old one whole)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps({"format": STATE_FORMAT, "logs": logs},
                        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def only_grew(conn, schema: str, accepted: dict, size: int, root: str) -> tuple[bool, str]:
    """Whether the log, now `size` events with Merkle root `root` (from the verified walk),
    only grew since the head the auditor accepted (`accepted`: {"size", "root"}): a consistency
    proof from the database's hashes, checked against the accepted root alone."""
    m, old_root = int(accepted.get("size", -1)), str(accepted.get("root", ""))
    if m < 0:
        return False, "the saved state for this log is unreadable"
    since = f" (accepted {accepted.get('accepted_at', '?')})"
    if size < m:
        return False, f"the log SHRANK from {m} to {size} events{since}"
    conn.rollback()
    try:
        proof, _, new_root = consistency_proof_stream(
            (digest for _, digest in _hashes(conn, schema, size)), m, size)
    except ValueError:
        return False, f"the log no longer holds the {size} events just verified"
    finally:
        conn.rollback()
    if new_root != root or not verify_consistency(m, size, old_root, root, proof):
        return False, (f"the log FORKED: events 1–{m} no longer give the root accepted"
                       f"{since}")
    return True, f"only grew since {m} events{since}: {size} now (proof of {len(proof)} hashes)"


def state_entry(size: int, root: str) -> dict:
    return {"size": size, "root": root,
            "accepted_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}

