"""Auditor tooling over the service logs: verify the hash chains, replay a stream as of a moment,
and show who did what, when and why."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Collection
from dataclasses import dataclass, field

import orjson

from shared import SERVICES
from shared.canonical import GENESIS_HASH, SQL_TIMESTAMP_TEXT, content_hash_encoded, encode
from shared.errors import NotFound
from shared.eventstore import EventStore
from shared.eventtypes import EventRegistry
from shared.folds import fold_for
from shared.merkle import Frontier
from shared.progress import Progress


@dataclass
class VerifyResult:
    schema: str
    checked: int
    ok: bool
    position: int | None = None
    problem: str | None = None
    #: for each position asked for in `marks` that the walk verified: (chain hash, RFC 6962
    #: Merkle root over events 1..position)
    marks: dict[int, tuple[str, str]] = field(default_factory=dict)
    #: the Merkle root over every event checked (with `keep_root`, when the walk held)
    root: str | None = None


def verify_log(conn, schema: str, progress: bool | None = None,
               batch: int = 20000, marks: Collection[int] = (),
               keep_root: bool = False) -> VerifyResult:
    """Recompute one log's chain from genesis; stop at the first position that does not hold.
    At each position in `marks` (the heads signed checkpoints name) note the verified hash and
    the Merkle root so far; with `keep_root`, the root over the whole log too.

    The head and the events are read in one REPEATABLE READ snapshot, so appends committing
    meanwhile are simply not seen (rather than looking like a head/chain mismatch)."""
    conn.rollback()
    try:
        return _verify_in_snapshot(conn, schema, progress, batch, frozenset(marks), keep_root)
    finally:
        conn.rollback()


def _verify_in_snapshot(conn, schema: str, progress: bool | None, batch: int,
                        marks: frozenset[int], keep_root: bool = False) -> VerifyResult:
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute(f"SELECT last_position, last_hash FROM {schema}.event_log_head WHERE id = 1")  # noqa: S608 - identifiers from code only; every value is a bound parameter
        head_position, head_hash = cur.fetchone()
    bar = Progress(f"verify {schema}", head_position, progress)
    prev = GENESIS_HASH
    expected = 1
    loads, sha256 = orjson.loads, hashlib.sha256
    # the events of one append share their metadata text: its canonical bytes are made once
    meta_text, meta_json = None, b""
    frontier = Frontier() if marks or keep_root else None
    seen: dict[int, tuple[str, str]] = {}
    with conn.cursor(name=f"verify_{schema}") as cur:
        cur.execute(
            "SELECT position, event_id::text, stream_id, stream_type, version, event_type, "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            f"schema_version, payload::text, metadata::text, {SQL_TIMESTAMP_TEXT}, content_hash, "
            "prev_hash, hash "
            f"FROM {schema}.events ORDER BY position"
        )
        for (position, event_id, stream_id, stream_type, version, event_type, schema_version,
             payload, metadata, recorded_at, stored_content, prev_hash, digest) in _prefetched(
                cur, batch):
            if position != expected:
                bar.close()
                return VerifyResult(schema, expected - 1, False, expected,
                                    f"position {expected} is missing (next stored is {position})",
                                    seen)
            if prev_hash != prev:
                bar.close()
                return VerifyResult(schema, expected - 1, False, position,
                                    "prev_hash does not match the hash of the event before it",
                                    seen)
            if metadata != meta_text:
                meta_text, meta_json = metadata, encode(loads(metadata))
            content = content_hash_encoded(event_id, stream_id, stream_type, event_type,
                                           schema_version, encode(loads(payload)), meta_json)
            if content != stored_content:
                bar.close()
                return VerifyResult(schema, expected - 1, False, position,
                                    "the stored event does not match its hash (altered row)",
                                    seen)
            # shared.canonical.chain_hash, inline: this loop is audit verify's client CPU
            if sha256(f"{prev_hash}|{position}|{version}|{recorded_at}|{content}".encode()
                      ).hexdigest() != digest:
                bar.close()
                return VerifyResult(schema, expected - 1, False, position,
                                    "the event's position, version, time or hash was altered",
                                    seen)
            if frontier is not None:
                frontier.append(digest)
                if position in marks:
                    seen[position] = (digest, frontier.root())
            prev = digest
            expected += 1
            if expected % 1000 == 0:
                bar.advance(1000)
    checked = expected - 1
    bar.advance(checked - bar.done)
    bar.close()
    if checked != head_position or prev != head_hash:
        return VerifyResult(schema, checked, False, checked + 1,
                            f"the log head says position {head_position} but the chain ends at "
                            f"{checked} (events removed from the end?)", seen)
    return VerifyResult(schema, checked, True, marks=seen,
                        root=frontier.root() if frontier is not None else None)


def _prefetched(cur, batch: int):
    """The cursor's rows, the next batch fetched by a helper thread while the caller hashes the
    current one (psycopg2 releases the GIL while it waits for PostgreSQL)."""
    batches: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch():
        try:
            while not stop.is_set():
                rows = cur.fetchmany(batch)
                batches.put(rows)
                if not rows:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            batches.put(exc)

    worker = threading.Thread(target=fetch, name="verify-fetch", daemon=True)
    worker.start()
    try:
        while True:
            rows = batches.get()
            if isinstance(rows, BaseException):
                raise rows
            if not rows:
                return
            yield from rows
    finally:
        stop.set()
        while worker.is_alive():  # let a fetch blocked on a full queue finish
            try:
                batches.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def existing_schemas(conn, candidates=SERVICES) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'events' AND table_schema = ANY(%s)",
            (list(candidates),),
        )
        found = {row[0] for row in cur.fetchall()}
    return [s for s in candidates if s in found]


def find_stream(conn, stream_id: str, schemas) -> str:
    for schema in schemas:
        with conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {schema}.events WHERE stream_id = %s LIMIT 1",  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        (stream_id,))
            if cur.fetchone():
                return schema
    raise NotFound(f"no service log holds stream {stream_id!r}", field="stream")


def replay(conn, schema: str, stream_id: str, as_of=None,
           registry: EventRegistry | None = None) -> dict:
    """The state of a stream rebuilt from its events recorded up to `as_of` (upcast by the
    log's `registry`; folded by the fold its domain registered, shared/folds.py)."""
    store = EventStore(schema, registry)
    events = store.read_stream(conn, stream_id, as_of=as_of)
    if not events:
        raise NotFound(f"stream {stream_id!r} has no events recorded by {as_of}", field="as_of")
    fold = fold_for(events[0].stream_type)
    state: dict = {}
    for event in events:
        state = fold(state, event)
    return {
        "service": schema,
        "stream_id": stream_id,
        "stream_type": events[0].stream_type,
        "as_of": str(as_of) if as_of else None,
        "version": events[-1].version,
        "last_event_at": events[-1].recorded_at,
        "state": state,
    }


def timeline(conn, schema: str, stream_id: str,
             registry: EventRegistry | None = None) -> list[dict]:
    store = EventStore(schema, registry)
    return [
        {
            "version": e.version,
            "recorded_at": e.recorded_at,
            "event_type": e.event_type,
            "actor_id": e.metadata.get("actor_id"),
            "actor_role": e.metadata.get("actor_role"),
            "opd_id": e.metadata.get("opd_id"),
            "reason": e.metadata.get("reason"),
            "correlation_id": e.metadata.get("correlation_id"),
            "position": e.position,
        }
        for e in store.read_stream(conn, stream_id)
    ]
