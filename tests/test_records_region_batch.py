"""Issue 14: a region's changes applied in batches (`records.apply_region_changes`, Y-17): each
change as `apply_region_change` applies it — the same checks, events and once-per-event-id — but
answered one by one in one transaction; a refusal undoes only its change and holds back the later
changes of its NIP (blocked); a transient failure applies nothing of the call."""

import psycopg2
import pytest

from services.records.events import REGISTRY
from services.records.usecases import regions, staging
from shared.config import with_user
from shared.db import ServiceDatabase, make_engine
from shared.errors import StoreUnavailable
from shared.eventstore import EventStore, NewEvent
from tests.helpers import raises_code
from tests.test_records_instansi import (
    JABATAN,
    SYNC,
    change,
    kabkota_person,
    records,  # noqa: F401 - the fixture
    stream_version,
)

pytestmark = pytest.mark.timeout(180)


def registration(nip, person, sequence, **data):
    return change("employee_registered", nip, {**{k: v for k, v in person.items()
                                                  if k != "nip"}, **data}, sequence)


def region_changes(database_url, nips):
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT nip, count(*) FROM records.region_changes WHERE nip = ANY(%s) "
                        "GROUP BY nip", (list(nips),))
            return dict(cur.fetchall())
    finally:
        conn.close()


def test_a_mixed_batch_is_answered_change_by_change(records, database_url):  # noqa: F811
    (ana, ana_p), (budi, budi_p), (cici, cici_p) = (kabkota_person() for _ in range(3))
    kota, kota_p = kabkota_person("3573")
    earlier = registration(cici, cici_p, 1)
    with records(SYNC) as sync:
        assert sync.apply_region_change("3507", earlier)["status"] == "applied"
        assert sync.apply_region_change("3573", registration(kota, kota_p, 1))["version"] == 1
        register_ana = registration(ana, ana_p, 2)
        batch = [
            register_ana,
            change("data_pokok_changed", ana, {"changes": {"address": "Jl. Ijen 1"}}, 3),
            register_ana,                                             # again in the same call
            registration(budi, budi_p, 4, gender="L"),                # refused: NIK says P
            change("data_pokok_changed", budi, {"changes": {"name": "Budi"}}, 5),  # blocked
            change("history_recorded", cici, {"history": "jabatan", "entry": JABATAN}, 6),
            earlier,                                                  # applied in another call
            {**earlier, "data": {**earlier["data"], "name": "Lain"}},  # its id, other content
            change("data_pokok_changed", kota, {"changes": {"name": "Bukan"}}, 7),
            {"event_id": "x", "sequence": 8, "kind": "y", "nip": ana, "data": {}},
            change("data_pokok_changed", ana, {"changes": {"name": "Ana"}}, 9),  # blocked
        ]
        answers = sync.apply_region_changes("3507", batch)
        with raises_code("batch_too_large") as large:
            sync.apply_region_changes("3507", [register_ana] * 1001)
        assert large.value.http_status == 413
        with raises_code("forbidden"), records({"actor_id": "x", "actor_role": "administrator",
                                                "actor_roles": ["administrator"]}) as admin:
            admin.apply_region_changes("3507", batch)
    statuses = [(a["status"], (a.get("error") or {}).get("code")) for a in answers]
    assert statuses == [
        ("applied", None), ("applied", None), ("duplicate", None),
        ("refused", "record_rejected"), ("blocked", None),
        ("applied", None), ("duplicate", None), ("refused", "region_event_reused"),
        ("refused", "instansi_forbidden"), ("refused", "validation_failed"),
        ("blocked", None)]
    assert [a["event_id"] for a in answers[:9]] == [str(c["event_id"]) for c in batch[:9]]
    assert answers[0]["version"] == 1 and answers[1]["version"] == 2
    assert answers[2] == {"event_id": register_ana["event_id"], "status": "duplicate",
                          "nip": ana, "version": 1}
    refused = answers[3]["error"]
    assert refused["status"] == 422 and "data.gender" in {
        p["field"] for p in refused["details"]["problems"]}
    assert answers[5]["version"] == 2 and answers[8]["error"]["status"] == 403
    assert {p["field"] for p in answers[9]["error"]["details"]["problems"]} >= {"event_id",
                                                                                 "kind"}
    assert (stream_version(database_url, ana), stream_version(database_url, budi),
            stream_version(database_url, cici), stream_version(database_url, kota)) == (2, 0, 2, 1)
    assert region_changes(database_url, [ana, budi, cici]) == {ana: 2, cici: 2}
    with records(SYNC) as sync:
        record = sync.get_employee(ana)
        assert (record["address"], record["version"]) == ("Jl. Ijen 1", 2)
        # what a batch applied, a single call answers as duplicate, and the other way round
        assert sync.apply_region_change("3507", batch[1])["status"] == "duplicate"
        assert sync.apply_region_changes("3507", batch[:3])[1]["status"] == "duplicate"


@pytest.fixture
def records_db(database_url):
    engine = make_engine(with_user(database_url, "simasn_records"), schema="records",
                         pool_size=2)
    yield ServiceDatabase(engine, EventStore("records", REGISTRY),
                          {"actor_id": "sync:3507", "actor_role": "machine"})
    engine.dispose()


def test_an_employee_written_meanwhile_is_applied_change_by_change(records_db, database_url,
                                                                   monkeypatch):
    """Someone else appends to a batch's employee between its read and its flush: the batch
    falls back to one change at a time, each on the record as it is now."""
    nip, person = kabkota_person()
    with records_db.transaction() as uow:
        regions.apply_many(uow, "3507", [registration(nip, person, 1)])
    flush = staging.StagedWrites.flush

    def someone_first(self, uow):
        conn = psycopg2.connect(database_url)
        try:
            with conn:
                EventStore("records", REGISTRY).append(
                    conn, f"employee:{nip}", "Employee", 1, [NewEvent("DataPokokChanged", {
                        "changes": {"phone": "081234567890"}, "documents": []})])
        finally:
            conn.close()
        monkeypatch.setattr(staging.StagedWrites, "flush", flush)
        return flush(self, uow)

    monkeypatch.setattr(staging.StagedWrites, "flush", someone_first)
    batch = [change("data_pokok_changed", nip, {"changes": {"name": "Ana"}}, 2),
             change("history_recorded", nip, {"history": "jabatan", "entry": JABATAN,
                                              "expected_version": 2}, 3),
             change("data_pokok_changed", nip, {"changes": {"address": "Jl. Ijen 2"}}, 4)]
    with records_db.transaction() as uow:
        answers = regions.apply_many(uow, "3507", batch)
    assert [a["status"] for a in answers] == ["applied", "refused", "blocked"]
    assert answers[0]["version"] == 3 and answers[1]["error"]["code"] == "concurrency_conflict"
    assert stream_version(database_url, nip) == 3


def test_a_transient_failure_applies_nothing_of_the_call(records_db, database_url, monkeypatch):
    nip, person = kabkota_person()
    flush = staging.StagedWrites.flush

    def then_the_database_goes(self, uow):
        flush(self, uow)
        pid = uow.execute("SELECT pg_backend_pid()").scalar_one()
        conn = psycopg2.connect(database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            conn.close()

    monkeypatch.setattr(staging.StagedWrites, "flush", then_the_database_goes)
    batch = [registration(nip, person, 1),
             change("data_pokok_changed", nip, {"changes": {"name": "Ana"}}, 2)]
    with pytest.raises(StoreUnavailable), records_db.transaction() as uow:
        regions.apply_many(uow, "3507", batch)
    assert stream_version(database_url, nip) == 0
    assert region_changes(database_url, [nip]) == {}
    monkeypatch.setattr(staging.StagedWrites, "flush", flush)
    with records_db.transaction() as uow:  # the same call again: everything applies once
        assert [a["status"] for a in regions.apply_many(uow, "3507", batch)] == [
            "applied", "applied"]
    assert stream_version(database_url, nip) == 2


def test_a_cached_employee_is_used_only_while_the_log_agrees(records_db, database_url):
    """The process keeps a batch's employees for the next batch; one written since by someone
    else, or left by a batch that rolled back, is read from the log again."""
    cache = staging.EmployeeCache()
    nip, person = kabkota_person()
    with records_db.transaction() as uow:
        regions.apply_many(uow, "3507", [registration(nip, person, 1)], cache)
    conn = psycopg2.connect(database_url)
    try:
        with conn:
            EventStore("records", REGISTRY).append(
                conn, f"employee:{nip}", "Employee", 1, [NewEvent("DataPokokChanged", {
                    "changes": {"phone": "081234567890"}, "documents": []})])
    finally:
        conn.close()
    with records_db.transaction() as uow:
        answer, = regions.apply_many(uow, "3507", [change(
            "data_pokok_changed", nip, {"changes": {"name": "Ana"}}, 2)], cache)
    assert answer["version"] == 3
    with pytest.raises(RuntimeError), records_db.transaction() as uow:
        regions.apply_many(uow, "3507", [change(
            "data_pokok_changed", nip, {"changes": {"name": "Batal"}}, 3)], cache)
        raise RuntimeError("the transaction rolls back after the batch")
    with records_db.transaction() as uow:
        answer, = regions.apply_many(uow, "3507", [change(
            "data_pokok_changed", nip, {"changes": {"address": "Jl. Ijen 3"}}, 4)], cache)
    assert answer["version"] == 4 and stream_version(database_url, nip) == 4
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT record->>'name', record->>'phone', record->>'address' FROM "
                        "records.employees WHERE nip = %s", (nip,))
            assert cur.fetchone() == ("Ana", "081234567890", "Jl. Ijen 3")
    finally:
        conn.close()
