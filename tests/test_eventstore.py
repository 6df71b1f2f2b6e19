"""The event store against real PostgreSQL: atomic appends, optimistic concurrency, idempotent
retries, append-only enforcement, versioned payloads and the gap-free reader."""

import random
import threading
import uuid

import eventlet
import psycopg2
import pytest
from marshmallow import Schema, fields

from shared.audit import verify_log
from shared.errors import (
    ConcurrencyError,
    DuplicateEventId,
    EventPayloadInvalid,
    UnknownEventType,
)
from shared.eventstore import NO_STREAM, BatchConflict, EventStore, NewEvent, StreamAppend
from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("scratch")


@REGISTRY.event("ThingHappened", version=1)
class ThingHappened(Schema):
    name = fields.String(required=True)
    count = fields.Integer(load_default=0)


def thing(name="x", count=0, event_id=None):
    payload = {"name": name, "count": count}
    return NewEvent("ThingHappened", payload, event_id or str(uuid.uuid4()))


@pytest.fixture
def store(scratch_schema):
    return EventStore(scratch_schema, REGISTRY)


@pytest.fixture
def conn(scratch_url):
    conn = psycopg2.connect(scratch_url)
    yield conn
    conn.close()


def count_events(conn, schema):
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {schema}.events")
        return cur.fetchone()[0]


def test_append_assigns_dense_positions_and_versions(store, conn):
    with conn:
        assert store.append(conn, "s-1", "Thing", NO_STREAM, [thing("a"), thing("b")]) == [1, 2]
        assert store.append(conn, "s-2", "Thing", NO_STREAM, [thing("c")]) == [3]
        assert store.append(conn, "s-1", "Thing", 2, [thing("d")]) == [4]
    events = store.read_stream(conn, "s-1")
    assert [(e.version, e.payload["name"]) for e in events] == [(1, "a"), (2, "b"), (3, "d")]
    assert [e.position for e in store.read_all(conn, 1, 10)] == [1, 2, 3, 4]
    assert store.read_all(conn, 3, 10)[0].position == 3


def test_metadata_is_recorded_with_every_event(store, conn):
    meta = {"actor_id": "198001012005011001", "actor_role": "pegawai", "opd_id": "bkd",
            "correlation_id": "req-123456", "reason": "perbaikan data"}
    with conn:
        store.append(conn, "s-m", "Thing", NO_STREAM, [thing()], meta)
    (event,) = store.read_stream(conn, "s-m")
    assert event.metadata == meta
    assert event.recorded_at.endswith("Z")


def test_conflicting_append_raises_with_current_version_and_writes_nothing(store, conn):
    with conn:
        store.append(conn, "s-c", "Thing", NO_STREAM, [thing(), thing()])
    head_before = store.head(conn)
    with pytest.raises(ConcurrencyError) as caught:
        with conn:
            store.append(conn, "s-c", "Thing", 1, [thing("late")])
    assert caught.value.current_version == 2
    assert caught.value.expected_version == 1
    assert count_events(conn, store.schema) == 2
    assert store.head(conn) == head_before


def test_a_batch_of_streams_is_appended_in_one_call_and_chained(store, conn):
    with conn:
        store.append(conn, "b-0", "Thing", NO_STREAM, [thing("first")])
        positions = store.append_streams(conn, [
            StreamAppend("b-1", "Thing", NO_STREAM, [thing("a"), thing("b")],
                         {"reason": "impor baris 2"}),
            StreamAppend("b-0", "Thing", 1, [thing("c")], {"reason": "impor baris 3"}),
            StreamAppend("b-2", "Thing", None, [thing("d")]),
        ])
    assert positions == [2, 3, 4, 5]
    assert [(e.version, e.payload["name"]) for e in store.read_stream(conn, "b-0")] == [
        (1, "first"), (2, "c")]
    assert store.read_stream(conn, "b-1")[1].metadata == {"reason": "impor baris 2"}
    assert verify_log(conn, store.schema).ok


def test_a_batch_with_any_conflict_writes_nothing_and_names_the_items(store, conn):
    known = thing("known")
    with conn:
        store.append(conn, "c-1", "Thing", NO_STREAM, [thing(), thing()])
        store.append(conn, "c-2", "Thing", NO_STREAM, [known])
    head = store.head(conn)
    with conn:
        with pytest.raises(BatchConflict) as caught:
            store.append_streams(conn, [
                StreamAppend("c-new", "Thing", NO_STREAM, [thing()]),
                StreamAppend("c-1", "Thing", 1, [thing("stale")]),       # at version 2
                StreamAppend("c-3", "Thing", NO_STREAM, [known]),         # id already stored
                StreamAppend("c-4", "Thing", NO_STREAM, [thing()]),
                StreamAppend("c-4", "Thing", NO_STREAM, [thing()]),       # same stream twice
            ])
        # nothing written, the transaction is still usable: drop the named items, go again
        assert [c["index"] for c in caught.value.conflicts] == [1, 2, 3, 4]
        assert caught.value.conflicts[0]["current"] == 2
        assert store.head(conn) == head
        assert store.append_streams(conn, [StreamAppend("c-new", "Thing", NO_STREAM,
                                                        [thing()])]) == [head[0] + 1]
    assert verify_log(conn, store.schema).ok


def test_retried_append_with_same_event_ids_is_a_no_op(store, conn):
    events = [thing("a"), thing("b")]
    with conn:
        first = store.append(conn, "s-r", "Thing", NO_STREAM, events)
    with conn:
        again = store.append(conn, "s-r", "Thing", NO_STREAM, events)
    assert again == first
    assert count_events(conn, store.schema) == 2


def test_partly_known_event_ids_are_refused(store, conn):
    known = thing("a")
    with conn:
        store.append(conn, "s-p", "Thing", NO_STREAM, [known])
    with pytest.raises(DuplicateEventId):
        with conn:
            store.append(conn, "s-p", "Thing", 1, [known, thing("new")])
    assert count_events(conn, store.schema) == 1


def test_payload_failing_its_schema_is_refused_and_nothing_written(store, conn):
    with pytest.raises(EventPayloadInvalid) as caught:
        with conn:
            store.append(conn, "s-v", "Thing", NO_STREAM,
                         [thing("ok"), NewEvent("ThingHappened", {"count": "many"})])
    assert caught.value.field in ("payload.name", "payload.count")
    assert "ThingHappened v1" in caught.value.message
    with pytest.raises(EventPayloadInvalid) as caught:
        store.append(conn, "s-v", "Thing", NO_STREAM,
                     [NewEvent("ThingHappened", {"name": "x", "extra": 1})])
    conn.rollback()
    assert caught.value.field == "payload.extra"
    with pytest.raises(UnknownEventType):
        store.append(conn, "s-v", "Thing", NO_STREAM, [NewEvent("NoSuchEvent", {})])
    conn.rollback()
    assert count_events(conn, store.schema) == 0


@pytest.mark.parametrize("payload,field", [
    ({"gaji": {"pokok": 1e16}}, "payload.gaji.pokok"),
    ({"nomor": 2**70}, "payload.nomor"),
    ({"catatan": ["ok", "nul\x00byte"]}, "payload.catatan[1]"),
])
def test_values_the_hash_chain_cannot_carry_exactly_are_refused(payload, field):
    store = EventStore("unused")
    with pytest.raises(EventPayloadInvalid) as caught:
        store._prepare(NewEvent("Anything", payload))
    assert caught.value.field == field


def test_update_delete_truncate_are_refused_even_for_the_owner(store, conn, admin_conn):
    with conn:
        store.append(conn, "s-u", "Thing", NO_STREAM, [thing()])
    statements = [
        f"UPDATE {store.schema}.events SET event_type = 'Forged'",
        f"DELETE FROM {store.schema}.events",
        f"TRUNCATE {store.schema}.events",
    ]
    for statement in statements:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege) as caught:
            with admin_conn, admin_conn.cursor() as cur:
                cur.execute(statement)
        assert "append-only" in str(caught.value)
    assert count_events(conn, store.schema) == 1


def test_service_role_has_insert_and_select_only(store, conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = 'simasn_scratch' AND table_schema = %s AND table_name = 'events'",
            (store.schema,),
        )
        assert sorted(r[0] for r in cur.fetchall()) == ["INSERT", "SELECT"]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with conn, conn.cursor() as cur:
            cur.execute(f"ALTER TABLE {store.schema}.events DISABLE TRIGGER ALL")


def test_read_stream_as_of_returns_the_past(store, conn):
    with conn:
        store.append(conn, "s-t", "Thing", NO_STREAM, [thing("v1")])
    with conn.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        between = cur.fetchone()[0]
    conn.rollback()
    with conn:
        store.append(conn, "s-t", "Thing", 1, [thing("v2")])
    assert [e.payload["name"] for e in store.read_stream(conn, "s-t", as_of=between)] == ["v1"]
    assert len(store.read_stream(conn, "s-t")) == 2


def test_old_payload_versions_are_upcast_on_read(scratch_schema, conn):
    v1 = EventStore(scratch_schema, REGISTRY)
    with conn:
        v1.append(conn, "s-up", "Thing", NO_STREAM, [thing("old", 3)])

    registry_v2 = EventRegistry("scratch")

    @registry_v2.event("ThingHappened", version=1)
    class V1(Schema):
        name = fields.String(required=True)
        count = fields.Integer()

    @registry_v2.event("ThingHappened", version=2)
    class V2(Schema):
        title = fields.String(required=True)
        quantity = fields.Integer(required=True)

    @registry_v2.upcaster("ThingHappened", from_version=1)
    def rename(payload):
        return {"title": payload["name"], "quantity": payload.get("count", 0)}

    (event,) = EventStore(scratch_schema, registry_v2).read_stream(conn, "s-up")
    assert event.payload == {"title": "old", "quantity": 3}
    assert (event.schema_version, event.stored_schema_version) == (2, 1)
    assert verify_log(conn, scratch_schema).ok, "upcasting never touches the stored event"


def test_concurrent_writers_and_a_tailing_reader_see_every_event_once_in_order(
        store, scratch_url):
    """8 writers x 500 events, some holding their transaction open after appending (a late
    commit); a reader tails read_all meanwhile and must see each event once, in order."""
    writers, per_writer = 8, 500
    total = writers * per_writer
    written: set[str] = set()
    seen: list = []
    errors: list = []

    def writer(number):
        rng = random.Random(number)
        conn = psycopg2.connect(scratch_url)
        try:
            done = 0
            while done < per_writer:
                batch = [thing(f"w{number}") for _ in range(min(rng.randint(1, 5),
                                                                 per_writer - done))]
                with conn:
                    store.append(conn, f"w-{number}-{done}", "Thing", NO_STREAM, batch)
                    if rng.random() < 0.05:
                        eventlet.sleep(rng.random() * 0.02)  # commit late
                written.update(e.event_id for e in batch)
                done += len(batch)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    def reader():
        conn = psycopg2.connect(scratch_url)
        conn.autocommit = True
        position = 0
        try:
            while len(seen) < total and not errors:
                batch = store.read_all(conn, position + 1, 137)
                if not batch:
                    eventlet.sleep(0.001)
                    continue
                seen.extend(batch)
                position = batch[-1].position
        finally:
            conn.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    tail = threading.Thread(target=reader)
    tail.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    tail.join(timeout=60)

    assert not errors
    assert [e.position for e in seen] == list(range(1, total + 1))
    assert len({e.event_id for e in seen}) == total
    assert {e.event_id for e in seen} == written


def test_verify_while_a_writer_appends_never_reports_a_false_break(store, scratch_url):
    stop = threading.Event()

    def writer():
        conn = psycopg2.connect(scratch_url)
        n = 0
        while not stop.is_set():
            with conn:
                store.append(conn, f"busy-{n}", "Thing", NO_STREAM, [thing(), thing()])
            n += 1
            eventlet.sleep(0)
        conn.close()

    busy = threading.Thread(target=writer)
    busy.start()
    conn = psycopg2.connect(scratch_url)
    try:
        results = []
        for _ in range(40):
            results.append(verify_log(conn, store.schema, progress=False))
            eventlet.sleep(0.002)
    finally:
        stop.set()
        busy.join(timeout=30)
        conn.close()
    assert all(r.ok for r in results), [r.problem for r in results if not r.ok]
    assert results[-1].checked > results[0].checked, "the writer really was appending"


def test_as_of_takes_any_time_zone_python_accepts(store, conn):
    from datetime import datetime, timedelta, timezone

    from shared.errors import ValidationFailed

    with conn:
        store.append(conn, "s-tz", "Thing", NO_STREAM, [thing("v1")])
    odd = datetime(2120, 8, 28, 21, 36, 1, tzinfo=timezone(timedelta(hours=-20, minutes=-2)))
    assert len(store.read_stream(conn, "s-tz", as_of=odd)) == 1
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=20)))
    with pytest.raises(ValidationFailed):
        store.read_stream(conn, "s-tz", as_of=early)
    with pytest.raises(ValidationFailed):
        store.read_stream(conn, "s-tz", as_of=datetime(2026, 1, 1))
