"""The event store against real PostgreSQL: atomic appends, optimistic concurrency, idempotent
retries, append-only enforcement, versioned payloads and the gap-free reader."""

import random
import threading
import uuid
from datetime import datetime

import eventlet
import orjson
import psycopg2
import pytest
from marshmallow import Schema, fields

from shared.audit import verify_log
from shared.canonical import chain_hash, content_hash
from shared.config import with_user
from shared.errors import (
    ConcurrencyError,
    DuplicateEventId,
    EventPayloadInvalid,
    UnknownEventType,
)
from shared.eventstore import (
    NO_STREAM,
    BatchConflict,
    EventStore,
    LogWriteRefused,
    NewEvent,
    StreamAppend,
)
from shared.eventtypes import EventRegistry
from shared.migrations import create_log_schema, migrate, with_database
from shared.testing import drop_test_database

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


def table_privileges(conn, schema, grantee="simasn_scratch"):
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = %s AND table_schema = %s "
                    "AND table_name IN ('events', 'event_log_head') ORDER BY 1, 2",
                    (grantee, schema))
        return cur.fetchall()


def forged_next_event(conn, schema, recorded_at="2020-01-01T00:00:00.000000Z"):
    """INSERT values for a back-dated event that would verify as OK at the head of the log."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT last_position, last_hash FROM {schema}.event_log_head")
        position, prev = cur.fetchone()
    event_id, payload = str(uuid.uuid4()), {"name": "back-dated", "count": 0}
    content = content_hash(event_id, "s-forged", "Thing", "ThingHappened", 1, payload, {})
    return (position + 1, event_id, "s-forged", "Thing", 1, "ThingHappened", 1,
            orjson.dumps(payload).decode(), "{}", recorded_at, content, prev,
            chain_hash(prev, position + 1, 1, recorded_at, content))


def test_the_service_role_writes_the_log_only_through_its_functions(store, conn):
    """E-18: INSERT, UPDATE, DELETE, TRUNCATE on the log tables, the inner chain function, the
    owner role and the triggers are all out of the service role's reach; appends still work."""
    with conn:
        store.append(conn, "s-u", "Thing", NO_STREAM, [thing()])
    assert table_privileges(conn, store.schema) == [("event_log_head", "SELECT"),
                                                    ("events", "SELECT")]
    s = store.schema
    refused = [
        (f"INSERT INTO {s}.events VALUES (%s, %s::uuid, %s, %s, %s, %s, %s, %s::jsonb, "
         "%s::jsonb, %s::timestamptz, %s, %s, %s)", forged_next_event(conn, s)),
        (f"UPDATE {s}.event_log_head SET last_recorded_at = '2999-01-01Z'", None),
        (f"UPDATE {s}.event_log_head SET last_position = last_position + 1", None),
        (f"DELETE FROM {s}.event_log_head", None),
        (f"TRUNCATE {s}.events", None),
        (f"TRUNCATE {s}.event_log_head", None),
        (f"SELECT 1 FROM {s}.event_log_head FOR UPDATE", None),
        (f"SELECT {s}.chain_events(0, %s, NULL, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', "
         "'{}', '{}')",
         ("0" * 64,)),
        (f"ALTER TABLE {s}.events DISABLE TRIGGER ALL", None),
        ("SET ROLE simasn_log_owner", None),
    ]
    for statement, params in refused:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
    with conn:
        assert store.append(conn, "s-u", "Thing", 1, [thing()]) == [2]
    assert count_events(conn, s) == 2
    assert verify_log(conn, s).ok


def test_the_log_and_its_functions_belong_to_a_role_no_one_logs_in_as(store, admin_conn):
    """E-18: the owner is NOLOGIN; the entry points run as it with a pinned search_path, and
    only the service role (not PUBLIC) may call them."""
    with admin_conn.cursor() as cur:
        cur.execute("SELECT c.relname, r.rolname, r.rolcanlogin FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_roles r ON r.oid = c.relowner "
                    "WHERE n.nspname = %s AND c.relname IN ('events', 'event_log_head') "
                    "ORDER BY 1", (store.schema,))
        assert cur.fetchall() == [("event_log_head", "simasn_log_owner", False),
                                  ("events", "simasn_log_owner", False)]
        cur.execute("SELECT p.proname, r.rolname, p.prosecdef, p.proconfig, "
                    "has_function_privilege('simasn_scratch', p.oid, 'EXECUTE'), "
                    "has_function_privilege('simasn_auditor', p.oid, 'EXECUTE') "
                    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                    "JOIN pg_roles r ON r.oid = p.proowner "
                    "WHERE n.nspname = %s AND p.proname <> 'refuse_event_change' ORDER BY 1",
                    (store.schema,))
        pinned = [f"search_path=pg_catalog, {store.schema}, pg_temp"]
        assert cur.fetchall() == [
            ("append_events", "simasn_log_owner", True, pinned, True, False),
            ("append_streams", "simasn_log_owner", True, pinned, True, False),
            ("chain_events", "simasn_log_owner", False, None, False, False),
        ]


def test_nothing_a_caller_sends_sets_the_time_position_version_or_chain(store, conn):
    """E-19: the functions' only inputs are what the writer decides; fields naming a time, a
    position, a version or a hash are ignored, and the log verifies."""
    with conn:
        store.append(conn, "s-b", "Thing", NO_STREAM, [thing("first")])
    with conn.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        before = cur.fetchone()[0]
    conn.rollback()
    forged = {"recorded_at": "2001-01-01T00:00:00.000000Z", "position": 1000, "version": 9,
              "prev_hash": "0" * 64, "hash": "f" * 64, "current": 41}

    def event(stream, name):
        payload, event_id = {"name": name, "count": 0}, str(uuid.uuid4())
        return {**forged, "event_id": event_id, "event_type": "ThingHappened",
                "schema_version": 1, "payload": payload,
                "content_hash": content_hash(event_id, stream, "Thing", "ThingHappened", 1,
                                             payload, {})}

    with conn, conn.cursor() as cur:
        cur.execute(f"SELECT {store.schema}.append_events('s-b', 'Thing', 1, '{{}}'::jsonb, "
                    "%s::jsonb)", (orjson.dumps([event("s-b", "second")]).decode(),))
        assert cur.fetchone()[0] == {"first": 2, "last": 2}
        cur.execute(f"SELECT {store.schema}.append_streams(%s::jsonb)", (orjson.dumps([
            {**forged, "stream": "s-n", "stream_type": "Thing", "expected": None,
             "metadata": {}, "events": [event("s-n", "third")]}]).decode(),))
        assert cur.fetchone()[0] == {"first": 3, "last": 3}
    written = store.read_all(conn, 2, 10)
    assert [(e.position, e.stream_id, e.version) for e in written] == [(2, "s-b", 2),
                                                                         (3, "s-n", 1)]
    for recorded in written:
        assert datetime.fromisoformat(recorded.recorded_at) >= before
        assert recorded.hash != "f" * 64
    assert verify_log(conn, store.schema).ok


def test_a_role_without_the_functions_gets_our_error(store, database_url):
    """The auditor may read the log but not append: the store says so in its own terms."""
    auditor = psycopg2.connect(with_user(database_url, "simasn_auditor"))
    try:
        with pytest.raises(LogWriteRefused) as caught:
            store.append(auditor, "s-a", "Thing", NO_STREAM, [thing()])
        auditor.rollback()
        assert caught.value.code == "log_write_refused"
        assert store.schema in caught.value.message
        with pytest.raises(LogWriteRefused):
            store.append_streams(auditor, [StreamAppend("s-a", "Thing", NO_STREAM, [thing()])])
        auditor.rollback()
        assert store.head(auditor) == (0, "0" * 64)
    finally:
        auditor.close()


def test_a_log_made_by_older_code_loses_its_write_privileges_on_migrate(store, conn,
                                                                         admin_conn):
    """E-20: the state older code left (tables and invoker functions owned by the migrating
    user, INSERT/UPDATE granted to the service role) is put right by the next migration run,
    which records no new migration; the events already written still verify."""
    s = store.schema
    with conn:
        store.append(conn, "s-old", "Thing", NO_STREAM, [thing("before")])
    with admin_conn, admin_conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {s}.events OWNER TO CURRENT_USER")
        cur.execute(f"ALTER TABLE {s}.event_log_head OWNER TO CURRENT_USER")
        cur.execute(f"GRANT INSERT ON {s}.events TO simasn_scratch")
        cur.execute(f"GRANT UPDATE ON {s}.event_log_head TO simasn_scratch")
        cur.execute(f"DROP FUNCTION {s}.chain_events(bigint, text, timestamptz, text[], "
                    "text[], jsonb[], integer[], integer[], jsonb[], text[])")
        for signature in ("append_events(text, text, integer, jsonb, jsonb)",
                          "append_streams(jsonb)"):
            cur.execute(f"DROP FUNCTION {s}.{signature}")
            cur.execute(f"CREATE FUNCTION {s}.{signature} RETURNS jsonb LANGUAGE sql "
                        "AS $$ SELECT jsonb_build_object('old', true) $$")
            cur.execute(f"GRANT EXECUTE ON FUNCTION {s}.{signature} TO simasn_scratch")
    with conn, conn.cursor() as cur:  # the hole the old privileges left
        cur.execute(f"UPDATE {s}.event_log_head SET last_recorded_at = last_recorded_at")
    with admin_conn, admin_conn.cursor() as cur:
        assert create_log_schema(cur, s, "simasn_scratch", "simasn_auditor") == []
    assert table_privileges(conn, s) == [("event_log_head", "SELECT"), ("events", "SELECT")]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with conn, conn.cursor() as cur:
            cur.execute(f"INSERT INTO {s}.events VALUES (%s, %s::uuid, %s, %s, %s, %s, %s, "
                        "%s::jsonb, %s::jsonb, %s::timestamptz, %s, %s, %s)",
                        forged_next_event(conn, s))
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        with conn, conn.cursor() as cur:
            cur.execute(f"UPDATE {s}.event_log_head SET last_recorded_at = '2999-01-01Z'")
    with conn:
        assert store.append(conn, "s-old", "Thing", 1, [thing("after")]) == [2]
        assert store.append_streams(conn, [StreamAppend("s-new", "Thing", NO_STREAM,
                                                        [thing()])]) == [3]
    assert verify_log(conn, s).ok
    with admin_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON "
                    "n.oid = p.pronamespace WHERE n.nspname = %s AND p.prosecdef", (s,))
        assert cur.fetchone()[0] == 2


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


def test_a_migrating_role_that_is_not_a_superuser_can_hand_the_log_to_its_owner():
    """E-20: deploy/k8s migrates as a CREATEROLE owner, not a superuser; it makes itself a
    member of the log owner so that it may give the log away, twice over without change."""
    from tests.conftest import ADMIN_URL

    migrator = f"simasn_test_migrator_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {migrator} LOGIN CREATEROLE CREATEDB")
    url = with_database(ADMIN_URL, f"simasn_test_{uuid.uuid4().hex[:10]}")
    try:
        assert "records/000_event_log" in migrate(with_user(url, migrator), services=("records",))
        assert migrate(with_user(url, migrator), services=("records",)) == []
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT c.relname, c.relowner::regrole::text, d.datdba::regrole::text "
                            "FROM pg_class c, pg_database d WHERE d.datname = current_database() "
                            "AND c.relnamespace = 'records'::regnamespace "
                            "AND c.relname IN ('events', 'event_log_head') ORDER BY 1")
                assert cur.fetchall() == [("event_log_head", "simasn_log_owner", migrator),
                                          ("events", "simasn_log_owner", migrator)]
            assert table_privileges(conn, "records", "simasn_records") == [
                ("event_log_head", "SELECT"), ("events", "SELECT")]
        finally:
            conn.close()
    finally:
        drop_test_database(url)
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE {migrator}")
        admin.close()
