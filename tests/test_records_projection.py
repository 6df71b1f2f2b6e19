"""The employees table is only a projection: replaying each employee's events must give exactly
the stored row, for every record the whole test run wrote (the check runs last). A damaged row
is found and re-derived from the log."""

import json
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.records import projection
from services.records.service import RecordsService
from simasn_cli.main import main as simasn
from tests.helpers import signed
from tests.records_helpers import ADMIN, new_person


@pytest.fixture
def records(container_factory, service_config):
    container_factory(RecordsService, service_config).start()
    return lambda context: ServiceRpcProxy("records", service_config,
                                           context_data=signed(context, service_config))


def test_a_damaged_row_is_found_and_rebuilt_from_the_log(records, database_url):
    nip, person = new_person()
    with records(ADMIN) as svc:
        record = svc.register_employee(person, "impor awal")
        svc.record_history(nip, {"history": "kinerja", "entry": {"tahun": 2024,
                                                                  "predikat": "Baik"},
                                 "expected_version": record["version"], "reason": "SKP 2024"})
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:  # an out-of-band write behind the service's back
            cur.execute("UPDATE records.employees SET record = jsonb_set(record, '{name}', "
                        "'\"Nama Palsu\"'), version = 1 WHERE nip = %s", (nip,))
        report = projection.check(conn)
        assert (nip, ["name", "version"]) in report.mismatched and not report.ok
        assert projection.rebuild(conn, nips={nip}) == 1
        assert nip not in [n for n, _ in projection.check(conn).mismatched]
    finally:
        conn.close()


def test_check_and_audit_replay_are_operator_commands(records, database_url, monkeypatch,
                                                      capsys):
    nip, person = new_person()
    with records(ADMIN) as svc:
        svc.register_employee(person, "impor awal")
    monkeypatch.setenv("SIMASN_DATABASE_URL", database_url)
    monkeypatch.setenv("SIMASN_DB_ROLE_PER_SERVICE", "true")
    assert simasn(["records", "check"]) == 0
    assert "replay equals the stored record" in capsys.readouterr().out
    later = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    assert simasn(["audit", "replay", "--stream", f"employee:{nip}", "--as-of", later]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["state"]["nip"] == nip and replayed["state"]["data"]["name"] == "Siti Rahayu"


@pytest.mark.last
def test_every_record_in_the_test_database_replays_to_its_stored_state(database_url):
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM records.employees")
            (stored,) = cur.fetchone()
        report = projection.check(conn)
    finally:
        conn.close()
    assert stored > 0, "the run wrote employee records"
    assert report.checked == stored
    assert report.ok, report
