"""The append-only, hash-chained event log each service keeps in its own PostgreSQL schema.

Ordering and "no late commits" — why `read_all` never skips an event:
every append first locks the log's single head row (`event_log_head`, SELECT ... FOR UPDATE)
and holds that lock until its transaction ends. Positions are taken as head + 1, + 2, ... under
the lock, so they are dense (a rolled-back append frees its numbers for the next writer) and a
transaction can only obtain position N+1 after the one holding N has committed (or rolled back).
PostgreSQL makes a commit visible before it releases the transaction's locks, so the events a
reader can see are always a prefix of the log: no event can appear later *below* a position the
reader has already passed. `read_all` still checks that what it returns is contiguous and stops
at a hole, so a broken invariant would show up as a stalled reader, never as a skipped event.

The same lock orders the hash chain: each event's hash covers its content hash, its position,
version and time, and the previous event's hash (see `shared.canonical`). The writer hashes the
content before it asks; the lock, the checks, the chain and the inserts happen in one call of the
schema's `append_events` function, so the lock is held for one round trip plus the commit. The
price is still that appends to one service log are serialised; keep the append the last
statement of a transaction so the lock is released at commit soon after.

That function (and `append_streams`) is the only way a service writes its log: they run as the
log's owner, and the service's role may only call them and read (shared/migrations.py,
LOG_WRITER_DDL). Position, version, time and chain link are decided there, never sent from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg2

from shared.canonical import (
    GENESIS_HASH,
    SQL_TIMESTAMP_TEXT,
    content_hash_encoded,
    encode,
    find_non_json_native,
)
from shared.errors import (
    ConcurrencyError,
    Conflict,
    DuplicateEventId,
    EventPayloadInvalid,
    SimasnError,
    ValidationFailed,
)
from shared.eventtypes import EventRegistry

METADATA_KEYS = (
    "actor_id",
    "actor_role",
    "opd_id",
    "correlation_id",
    "causation_id",
    "client_address",
    "reason",
)

#: expected_version that skips the optimistic check (use for logs of independent facts only)
ANY_VERSION = None
#: expected_version for a stream that must not exist yet
NO_STREAM = 0


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    payload: dict
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    event_id: str
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    payload: dict
    metadata: dict
    recorded_at: str
    prev_hash: str
    hash: str
    stored_schema_version: int | None = None

    def envelope(self, service: str) -> dict[str, Any]:
        """The message the outbox relay publishes and consumers receive."""
        return {
            "source": service,
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "stream_type": self.stream_type,
            "version": self.version,
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "payload": self.payload,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at,
            "hash": self.hash,
        }


class BatchConflict(Conflict):
    code = "batch_conflict"

    def __init__(self, conflicts: list[dict]):
        super().__init__(f"{len(conflicts)} stream(s) of the batch conflict; nothing written",
                         field="batch", details={"conflicts": conflicts})
        self.conflicts = conflicts


class LogWriteRefused(SimasnError):
    """The database refused this role the log's writing functions: a deployment whose
    migrations were not run (`simasn migrate`), or a connection as the wrong role."""

    code = "log_write_refused"
    http_status = 500


@dataclass(frozen=True)
class StreamAppend:
    """One stream's part of an `append_streams` batch."""

    stream_id: str
    stream_type: str
    expected_version: int | None
    events: Sequence[NewEvent]
    metadata: dict | None = None


_COLUMNS = (
    "position, event_id::text, stream_id, stream_type, version, event_type, schema_version, "
    f"payload::text, metadata::text, {SQL_TIMESTAMP_TEXT}, prev_hash, hash"
)


def _utc(moment: datetime | str) -> datetime | str:
    """`as_of` in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts."""
    if not isinstance(moment, datetime):
        return moment
    if moment.tzinfo is None:
        raise ValidationFailed("as_of needs a time zone, e.g. +07:00 for WIB", field="as_of")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed("as_of is out of range", field="as_of") from None


def _encoded_events(prepared: list[tuple[str, str, int, dict]], stream_id: str,
                    stream_type: str, meta_json: bytes) -> str:
    """The events' JSON for the writing functions, each payload encoded once: the same bytes
    go into the content hash and into the document sent (docs/design/event-log.md)."""
    rows = []
    for event_id, event_type, version_no, payload in prepared:
        payload_json = encode(payload)
        rows.append({"event_id": event_id, "event_type": event_type,
                     "schema_version": version_no, "payload": orjson.Fragment(payload_json),
                     "content_hash": content_hash_encoded(event_id, stream_id, stream_type,
                                                          event_type, version_no, payload_json,
                                                          meta_json)})
    return orjson.dumps(rows).decode()


def clean_metadata(metadata: dict | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if key not in METADATA_KEYS:
            raise ValidationFailed(f"unknown metadata key {key!r}", field=f"metadata.{key}")
        if value is None:
            continue
        out[key] = str(value)
    return out


class EventStore:
    """One service's log. Methods take a psycopg2 connection or cursor owner and never commit:
    the caller's transaction decides, so an event and its effect are written together."""

    def __init__(self, schema: str, registry: EventRegistry | None = None):
        if not schema.replace("_", "").isalnum():
            raise ValueError(f"bad schema name {schema!r}")
        self.schema = schema
        self.registry = registry
        self._sql_append = f"SELECT {schema}.append_events(%s, %s, %s, %s::jsonb, %s::jsonb)"
        self._sql_append_streams = f"SELECT {schema}.append_streams(%s::jsonb)"

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        conn,
        stream_id: str,
        stream_type: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        metadata: dict | None = None,
    ) -> list[int]:
        """Append `events` to `stream_id` atomically, in the caller's transaction.

        Raises ConcurrencyError (nothing written) when the stream is not at `expected_version`.
        Re-sending events whose ids are already stored writes nothing and returns their
        original positions, so a retried command is harmless."""
        if not events:
            return []
        if not stream_id or not isinstance(stream_id, str) or len(stream_id) > 200:
            raise ValidationFailed("stream id must be a non-empty string", field="stream_id")
        if self.registry is not None:
            self.registry.check_stream(stream_id)
        meta = clean_metadata(metadata)
        prepared = [self._prepare(event) for event in events]
        ids = [event_id for event_id, _, _, _ in prepared]
        if len(set(ids)) != len(ids):
            raise DuplicateEventId("the same event id appears twice in one append",
                                   field="event_id")

        meta_json = encode(meta)
        rows = _encoded_events(prepared, stream_id, stream_type, meta_json)
        outcome = self._call(conn, self._sql_append,
                             (stream_id, stream_type, expected_version, meta_json.decode(), rows))
        if "first" in outcome:
            return list(range(outcome["first"], outcome["last"] + 1))
        if "replayed" in outcome:
            return outcome["replayed"]
        if "conflict" in outcome:
            raise ConcurrencyError(stream_id=stream_id, expected_version=expected_version,
                                   current_version=outcome["conflict"])
        raise DuplicateEventId(
            "some of these event ids are already stored, but not as this same append",
            field="event_id", details={"already_stored": outcome["duplicate"]})

    def append_streams(self, conn, batch: Sequence[StreamAppend]) -> list[int]:
        """Append to many streams in one round trip and one head-row lock (bulk imports).

        All or nothing: returns the positions written, or — when any stream is not at its
        expected version, any event id is already stored, or a stream appears twice — writes
        nothing and raises BatchConflict naming those items ({"index": i, "current": v});
        the caller's transaction stays usable, so it can drop them and call again."""
        items, ids = [], []
        for item in batch:
            if not item.events:
                raise ValidationFailed("every stream in a batch needs events", field="events")
            if self.registry is not None:
                self.registry.check_stream(item.stream_id)
            meta = clean_metadata(item.metadata)
            prepared = [self._prepare(event) for event in item.events]
            ids += [event_id for event_id, _, _, _ in prepared]
            items.append({
                "stream": item.stream_id, "stream_type": item.stream_type,
                "expected": item.expected_version, "metadata": meta,
                "events": orjson.Fragment(_encoded_events(prepared, item.stream_id,
                                                          item.stream_type, encode(meta)))})
        if not items:
            return []
        if len(set(ids)) != len(ids):
            raise DuplicateEventId("the same event id appears twice in one batch",
                                   field="event_id")
        outcome = self._call(conn, self._sql_append_streams,
                             (orjson.dumps(items).decode(),))
        if "conflicts" in outcome:
            raise BatchConflict(outcome["conflicts"])
        return list(range(outcome["first"], outcome["last"] + 1))

    def _call(self, conn, statement: str, params: tuple) -> dict:
        """One call of a writing function; its owner does the writing (shared/migrations.py,
        LOG_WRITER_DDL), the connection's role needs only EXECUTE on it."""
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                (outcome,) = cur.fetchone()
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise LogWriteRefused(
                f"this database role may not append to the log {self.schema}: run "
                "`simasn migrate`, and connect as the service's own role") from exc
        return outcome

    def _prepare(self, event: NewEvent) -> tuple[str, str, int, dict]:
        try:
            event_id = str(uuid.UUID(str(event.event_id)))
        except ValueError:
            raise ValidationFailed("event id must be a UUID", field="event_id") from None
        version_no = 1
        if self.registry is not None:
            event_type = self.registry.get(event.event_type)
            event_type.validate(event.payload)
            version_no = event_type.version
        elif not isinstance(event.payload, dict):
            raise EventPayloadInvalid("payload must be an object", field="payload")
        bad = find_non_json_native(event.payload)
        if bad:
            raise EventPayloadInvalid(
                f"{event.event_type}: payload value at {bad} is not an integer, string, boolean, "
                "null, list or object (floats are not allowed in the audit log)",
                field=f"payload.{bad}",
            )
        return event_id, event.event_type, version_no, event.payload

    # -- reading -------------------------------------------------------------------------

    def read_stream(
        self,
        conn,
        stream_id: str,
        from_version: int = 1,
        as_of: datetime | str | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events in version order; with `as_of`, only those recorded by then."""
        sql = (
            f"SELECT {_COLUMNS} FROM {self.schema}.events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "WHERE stream_id = %s AND version >= %s"
        )
        params: list[Any] = [stream_id, from_version]
        if as_of is not None:
            sql += " AND recorded_at <= %s"
            params.append(_utc(as_of))
        sql += " ORDER BY version"
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return self._records(cur.fetchall())

    def read_streams(self, conn, stream_ids: Sequence[str]) -> dict[str, list[RecordedEvent]]:
        """Many streams' events in one query, each in version order (a batch that works on
        many streams reads them once)."""
        out: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in stream_ids}
        if not out:
            return out
        with conn.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM {self.schema}.events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "WHERE stream_id = ANY(%s) ORDER BY stream_id, version",
                        (list(out),))
            for event in self._records(cur.fetchall()):
                out[event.stream_id].append(event)
        return out

    def read_all(self, conn, from_position: int = 1, limit: int = 1000) -> list[RecordedEvent]:
        """Events from `from_position` on, in position order, never with a hole: see the
        module docstring for why a late commit cannot be skipped."""
        start = max(from_position, 1)
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {self.schema}.events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                "WHERE position >= %s ORDER BY position LIMIT %s",
                (start, limit),
            )
            rows = cur.fetchall()
        # keep the contiguous prefix: a hole would be a broken invariant, never skipped
        contiguous = len(rows)
        if contiguous and rows[-1][0] != start + contiguous - 1:
            contiguous = next(i for i, row in enumerate(rows) if row[0] != start + i)
        return self._records(rows[:contiguous])

    def read_types(self, conn, after: int, upto: int, limit: int,
                   event_types: Sequence[str] | None = None) -> list[RecordedEvent]:
        """Events in (`after`, `upto`] of `event_types` (all when None), in position order.
        With `upto` read from the head row first, every event up to it has committed (the
        module docstring), so the answer has no hole among the types asked for."""
        sql = (f"SELECT {_COLUMNS} FROM {self.schema}.events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
               "WHERE position > %s AND position <= %s")
        params: list[Any] = [after, upto]
        if event_types is not None:
            sql += " AND event_type = ANY(%s)"
            params.append(list(event_types))
        with conn.cursor() as cur:
            cur.execute(sql + " ORDER BY position LIMIT %s", [*params, limit])
            return self._records(cur.fetchall())

    def iter_stream_type(self, conn, stream_type: str,
                         batch: int = 2000) -> Iterator[RecordedEvent]:
        """Every event of one stream type, stream by stream in version order, through a
        server-side cursor (memory stays flat however large the log). Needs an open
        transaction; in REPEATABLE READ it is one consistent snapshot."""
        with conn.cursor(name=f"iter_{stream_type.lower()}_{id(self)}") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT {_COLUMNS} FROM {self.schema}.events WHERE stream_type = %s "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                        "ORDER BY stream_id, version", (stream_type,))
            for row in cur:
                yield self._record(row)

    def stream_version(self, conn, stream_id: str) -> int:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT coalesce(max(version), 0) FROM {self.schema}.events "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                "WHERE stream_id = %s",
                (stream_id,),
            )
            return cur.fetchone()[0]

    def head(self, conn) -> tuple[int, str]:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT last_position, last_hash FROM {self.schema}.event_log_head WHERE id = 1"  # noqa: S608 - identifiers from code only; every value is a bound parameter
            )
            row = cur.fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def _record(self, row: Iterable) -> RecordedEvent:
        return self._records((row,))[0]

    def _records(self, rows: Iterable[Iterable]) -> list[RecordedEvent]:
        """Rows of `_COLUMNS` as events, upcast to their type's current version.

        The read path's client CPU (docs/design/event-log.md, Performance): jsonb comes as text
        and is decoded with orjson (psycopg2's json.loads dominated reads); the metadata of
        consecutive events of one append is the same text, decoded once and copied; and the
        frozen dataclass is filled through its __dict__ (its generated __init__ sets each of
        the 13 fields through object.__setattr__, a third of a row's cost)."""
        loads, new, names = orjson.loads, object.__new__, _RECORD_FIELDS
        registry = self.registry
        last_text, last_meta = None, None
        out = []
        for (position, event_id, stream_id, stream_type, version, event_type, schema_version,
             payload, metadata, recorded_at, prev_hash, digest) in rows:
            payload = loads(payload)
            if metadata == last_text:
                metadata = dict(last_meta)
            else:
                last_text, last_meta = metadata, loads(metadata)
                metadata = dict(last_meta)
            stored = schema_version
            if registry is not None and event_type in registry:
                current = registry.get(event_type)
                if schema_version < current.version:
                    payload = current.upcast(payload, schema_version)
                    schema_version = current.version
            event = new(RecordedEvent)
            event.__dict__.update(zip(names, (
                position, event_id, stream_id, stream_type, version, event_type,
                schema_version, payload, metadata, recorded_at, prev_hash, digest, stored),
                strict=True))
            out.append(event)
        return out


_RECORD_FIELDS = tuple(f.name for f in fields(RecordedEvent))
