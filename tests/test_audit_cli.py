"""`simasn audit` and `simasn deadletters` as an auditor or operator runs them."""

import json

import psycopg2
import pytest

from shared.canonical import chain_hash, content_hash
from shared.eventstore import EventStore, NewEvent
from simasn_cli.main import main


def append_history(url, schema="records", stream="199001012015031001", count=12):
    store = EventStore(schema)
    conn = psycopg2.connect(url)
    stamps = []
    for version in range(count):
        with conn:
            store.append(conn, stream, "Note", version,  # a type with no fold: merged
                         [NewEvent("FieldChanged",
                                   {"field": "alamat", "value": f"Jalan {version}"})],
                         {"actor_id": f"user-{version % 3}", "actor_role": "pegawai",
                          "reason": f"pindah rumah {version}"})
        with conn.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            stamps.append(cur.fetchone()[0])
        conn.rollback()
    conn.close()
    return stamps


def tamper(url, schema, position, sql_set):
    """What a superuser could do: switch the guard off, rewrite a row, switch it back on."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {schema}.events DISABLE TRIGGER events_append_only")
        cur.execute(f"UPDATE {schema}.events SET {sql_set} WHERE position = %s", (position,))
        cur.execute(f"ALTER TABLE {schema}.events ENABLE TRIGGER events_append_only")
    conn.close()


def test_verify_passes_on_an_untouched_log(own_database, capsys):
    append_history(own_database)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "records: OK, 12 events verified" in out
    assert "identity: OK, 0 events verified" in out


@pytest.mark.parametrize("change", [
    "payload = jsonb_set(payload, '{value}', '\"Jalan Palsu\"')",
    "metadata = metadata - 'reason'",
    "recorded_at = recorded_at - interval '1 day'",
    "event_type = 'Forged'",
    "version = version + 100",
    "content_hash = repeat('b', 64)",
])
def test_verify_names_the_exact_position_of_an_altered_row(own_database, capsys, change):
    append_history(own_database)
    tamper(own_database, "records", 7, change)
    assert main(["audit", "verify", "--service", "records"]) == 2
    out = capsys.readouterr().out
    assert "records: BROKEN at position 7" in out


def test_verify_detects_a_rewritten_and_rehashed_row_at_the_next_link(own_database, capsys):
    append_history(own_database)
    store = EventStore("records")
    conn = psycopg2.connect(own_database)
    (row,) = [e for e in store.read_all(conn, 5, 1)]
    forged = {"field": "alamat", "value": "Jalan Palsu"}
    forged_content = content_hash(row.event_id, row.stream_id, row.stream_type, row.event_type,
                                  row.schema_version, forged, row.metadata)
    forged_hash = chain_hash(row.prev_hash, row.position, row.version, row.recorded_at,
                             forged_content)
    conn.close()
    tamper(own_database, "records", 5,
           f"payload = '{json.dumps(forged)}'::jsonb, content_hash = '{forged_content}', "
           f"hash = '{forged_hash}'")
    assert main(["audit", "verify", "--service", "records"]) == 2
    out = capsys.readouterr().out
    assert "BROKEN at position 6: prev_hash does not match" in out


def test_verify_detects_events_removed_from_the_end(own_database, capsys):
    append_history(own_database)
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE records.events DISABLE TRIGGER events_append_only")
        cur.execute("DELETE FROM records.events WHERE position > 10")
        cur.execute("ALTER TABLE records.events ENABLE TRIGGER events_append_only")
    conn.close()
    assert main(["audit", "verify", "--service", "records"]) == 2
    assert "BROKEN at position 11" in capsys.readouterr().out


def test_replay_rebuilds_the_state_as_of_a_moment(own_database, capsys):
    stamps = append_history(own_database)
    assert main(["audit", "replay", "--stream", "199001012015031001",
                 "--as-of", stamps[3].isoformat()]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["version"] == 4
    assert state["state"]["value"] == "Jalan 3"
    assert state["service"] == "records"


def test_replay_refuses_a_time_without_zone(own_database, capsys):
    append_history(own_database)
    assert main(["audit", "replay", "--stream", "199001012015031001",
                 "--as-of", "2026-01-01T10:00:00"]) == 1
    assert "time zone" in capsys.readouterr().err


def test_timeline_shows_who_did_what_when_and_why(own_database, capsys):
    append_history(own_database, count=3)
    assert main(["audit", "timeline", "--stream", "199001012015031001", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["actor_id"], r["reason"]) for r in rows] == [
        (1, "user-0", "pindah rumah 0"), (2, "user-1", "pindah rumah 1"),
        (3, "user-2", "pindah rumah 2")]
    assert main(["audit", "timeline", "--stream", "199001012015031001"]) == 0
    table = capsys.readouterr().out
    assert "FieldChanged" in table and "pindah rumah 2" in table


def test_unknown_stream_is_a_clear_error(own_database, capsys):
    assert main(["audit", "timeline", "--stream", "nope"]) == 1
    assert "no service log holds stream 'nope'" in capsys.readouterr().err


def test_deadletters_list_on_an_empty_store(own_database, capsys):
    assert main(["deadletters", "list"]) == 0
    assert "0 dead letter(s)" in capsys.readouterr().out
    assert main(["deadletters", "retry", "bogus"]) == 1
    assert "SERVICE:ID" in capsys.readouterr().err


def test_relay_status_shows_lag_leader_held_and_unrouted_events_and_retry_clears_them(
        own_database, rabbit_config, capsys):
    """`simasn relay status` per service log: head, relay position and lag, the leader's
    session, held events (an alarm: exit 1) and unrouted ones; `simasn relay retry` has the
    leader offer them again."""
    from shared.testing import wait_for
    from tests.helpers import RelayThread, fetch

    append_history(own_database, count=3)
    assert main(["relay", "status", "--service", "records"]) == 0
    assert "relay relay: position 0, lag 3, NO LEADER" in capsys.readouterr().out

    with RelayThread(own_database, "records", "records", rabbit_config["AMQP_URI"]):
        wait_for(lambda: fetch(own_database, "SELECT position FROM records.relay_checkpoint")
                 == [(3,)], message="the relay to catch up")
        # as the relay records an event whose redactor raised
        conn = psycopg2.connect(own_database)
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO records.relay_held (relay, position, event_type, "
                        "error_type, error) VALUES ('relay', 2, 'FieldChanged', 'KeyError', "
                        "'KeyError(''nik'')')")
        conn.close()
        assert main(["relay", "status", "--service", "records"]) == 1
        out = capsys.readouterr().out
        assert "records: head 3, held 1, unrouted 3" in out
        assert "relay relay: position 3, lag 0, leader pid" in out
        assert "HELD #2 FieldChanged (relay relay, 1 attempt(s)): KeyError: KeyError('nik')" in out
        assert "unrouted FieldChanged: 3 (oldest #1)" in out

        assert main(["relay", "retry", "--service", "records", "--wait", "30"]) == 0
        out = capsys.readouterr().out
        assert "records: retry requested of 1 relay(s)" in out
        assert "held 0" in out
    assert main(["relay", "status", "--service", "records", "--json"]) == 0
    (status,) = json.loads(capsys.readouterr().out)
    assert status["held"] == 0 and status["relays"][0]["leader"] is None
    assert fetch(own_database, "SELECT released_at IS NOT NULL FROM records.relay_held") \
        == [(True,)]
