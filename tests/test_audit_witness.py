"""Tamper evidence anchored outside the database (issue 13 part 5): a superuser rewrites an
event, recomputes every later hash and the head, and deletes the signing log's checkpoints; the
chain verifies, the database holds no checkpoint, and `simasn audit verify --witness` still
names the position against the copies the witness keeps. RFC 6962 consistency proofs between
checkpoints (`simasn audit consistency`) and the auditor's saved state (`--state FILE`)."""

import json

import psycopg2
import pytest
from nameko.testing.services import entrypoint_hook

from services.signing.service import SigningService
from shared import audit
from shared import audit_checkpoints as cp
from shared.canonical import GENESIS_HASH
from shared.testing import wait_for
from shared.witness import DirectoryWitness, object_name, parse
from simasn_cli.main import main
from tests import test_signing_checkpoints
from tests.test_audit_cli import append_history, tamper
from tests.test_signing_checkpoints import make_checkpoint, rewrite_and_rehash

keys = test_signing_checkpoints.keys

pytestmark = pytest.mark.timeout(90)


def witnessed_checkpoint(url, seal, witness):
    """A checkpoint as the signing service makes it, then copied to the witness as it does
    (read back from the signing log after commit)."""
    position, _ = make_checkpoint(url, seal, "timer")
    conn = psycopg2.connect(url)
    try:
        (checkpoint,) = [c for c in cp.read_checkpoints(conn) if c.position == position]
    finally:
        conn.close()
    witness.put_checkpoint(checkpoint.position, checkpoint.recorded_at, checkpoint.payload)
    return checkpoint


def erase_checkpoints(url):
    """The superuser's last step: the signing log's checkpoints gone, its head back to empty."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE signing.events DISABLE TRIGGER events_append_only")
        cur.execute("DELETE FROM signing.events WHERE stream_id = 'checkpoints'")
        cur.execute("ALTER TABLE signing.events ENABLE TRIGGER events_append_only")
        cur.execute("UPDATE signing.event_log_head SET last_position = 0, last_hash = %s, "
                    "last_recorded_at = NULL", (GENESIS_HASH,))
    conn.close()


def one_event_at_a_time(url, seal, witness, count=8):
    """A checkpoint after every event, as a busy minute-by-minute timer would give."""
    sealed = []
    for version in range(count):
        append_history(url, stream=f"19900101201503{version:04d}", count=1)
        sealed.append(witnessed_checkpoint(url, seal, witness))
    return sealed


@pytest.mark.parametrize("position", range(1, 9))
def test_a_rewrite_older_than_the_newest_checkpoint_is_pinned_against_the_witness(
        own_database, keys, tmp_path, capsys, position):
    keystore, roots = keys
    witness = DirectoryWitness(tmp_path / "witness")
    sealed = one_event_at_a_time(own_database, keystore.signer("seal"), witness)
    append_history(own_database, stream="199202022016032002", count=2)  # after the newest

    rewrite_and_rehash(own_database, position, {"field": "alamat", "value": "Jalan Palsu"})
    erase_checkpoints(own_database)
    conn = psycopg2.connect(own_database)
    assert audit.verify_log(conn, "records").ok and audit.verify_log(conn, "signing").ok
    assert cp.read_checkpoints(conn) == []
    conn.close()

    assert main(["audit", "verify", "--trust-roots", roots]) == 0  # the database alone: blind
    capsys.readouterr()
    assert main(["audit", "verify", "--trust-roots", roots,
                 "--witness", str(tmp_path / "witness")]) == 2
    out = capsys.readouterr().out
    broken = sealed[position - 1]
    expected = (f"records: witness: REWRITTEN: event {position} was changed or removed: "
                f"witnessed {broken.label()} sealed events 1–{position} and the database no "
                "longer gives its Merkle root")
    if position > 1:
        expected += f"; events 1–{position - 1} still match {sealed[position - 2].label()}"
    assert expected in out.splitlines()
    assert "identity: witness: matches the witness: 8 checkpoint(s), events 1–0" in out
    assert f"witness {tmp_path / 'witness'}: 8 checkpoint(s), 8 trusted" in out


def test_an_untouched_log_matches_the_witness_and_a_coarse_one_pins_a_range(
        own_database, keys, tmp_path, capsys):
    keystore, roots = keys
    seal = keystore.signer("seal")
    witness = DirectoryWitness(tmp_path / "w")
    append_history(own_database, count=4)
    first = witnessed_checkpoint(own_database, seal, witness)
    append_history(own_database, stream="199202022016032002", count=6)
    second = witnessed_checkpoint(own_database, seal, witness)

    assert main(["audit", "verify", "--trust-roots", roots, "--witness", str(tmp_path / "w"),
                 "--service", "records"]) == 0
    assert ("records: witness: matches the witness: 2 checkpoint(s), events 1–10"
            in capsys.readouterr().out)

    tamper(own_database, "records", 7, "metadata = metadata - 'reason'")  # in place, no rehash
    rewrite_and_rehash(own_database, 7, {"field": "alamat", "value": "Jalan Palsu"})
    erase_checkpoints(own_database)
    assert main(["audit", "verify", "--trust-roots", roots, "--witness", str(tmp_path / "w"),
                 "--service", "records"]) == 2
    assert (f"records: witness: REWRITTEN: an event in positions 5–10 was changed or removed: "
            f"witnessed {second.label()} sealed events 1–10 and the database no longer gives "
            f"its Merkle root; events 1–4 still match {first.label()}"
            ) in capsys.readouterr().out


def test_a_witness_copy_that_was_tampered_with_is_not_trusted(own_database, keys, tmp_path,
                                                              capsys):
    keystore, roots = keys
    witness = DirectoryWitness(tmp_path / "w")
    append_history(own_database, count=3)
    checkpoint = witnessed_checkpoint(own_database, keystore.signer("seal"), witness)
    path = tmp_path / "w" / object_name(checkpoint.position)
    doc = parse(path.read_bytes())
    doc["payload"]["heads"]["records"]["merkle_root"] = "00" * 32
    path.chmod(0o644)
    path.write_text(json.dumps(doc))

    assert main(["audit", "verify", "--trust-roots", roots, "--witness", str(tmp_path / "w"),
                 "--service", "records"]) == 2
    out = capsys.readouterr().out
    assert (f"witness: {checkpoint.label()}: NOT TRUSTED: the signature does not match the "
            "signed heads") in out
    assert "records: witness: matches the witness: 0 checkpoint(s)" not in out


def test_consistency_proofs_between_checkpoints_hold_offline_and_fail_after_a_rewrite(
        own_database, keys, tmp_path, capsys, monkeypatch):
    keystore, roots = keys
    seal = keystore.signer("seal")
    witness = DirectoryWitness(tmp_path / "w")
    append_history(own_database, count=5)
    old = witnessed_checkpoint(own_database, seal, witness)
    append_history(own_database, stream="199202022016032002", count=8)
    new = witnessed_checkpoint(own_database, seal, witness)

    assert main(["audit", "consistency", "--trust-roots", roots, "--service", "records"]) == 0
    assert (f"records: events 1–5 sealed by {old.label()} are a prefix of events 1–13 sealed "
            f"by {new.label()}") in capsys.readouterr().out
    assert main(["audit", "consistency", "--trust-roots", roots, "--service", "records",
                 "--witness", str(tmp_path / "w"), "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert (doc["old_size"], doc["new_size"], doc["holds"]) == (5, 13, True)
    proof = tmp_path / "consistency.json"
    proof.write_text(json.dumps(doc))
    monkeypatch.setenv("SIMASN_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")
    assert main(["audit", "verify-proof", str(proof), "--trust-roots", roots]) == 0
    assert "proof holds: records: events 1–5 sealed by" in capsys.readouterr().out
    doc["proof"][0] = "00" * 32
    proof.write_text(json.dumps(doc))
    assert main(["audit", "verify-proof", str(proof), "--trust-roots", roots]) == 2
    assert "are not a prefix of events 1–13" in capsys.readouterr().out
    monkeypatch.setenv("SIMASN_DATABASE_URL", own_database)

    rewrite_and_rehash(own_database, 3, {"field": "alamat", "value": "Jalan Palsu"})
    erase_checkpoints(own_database)
    assert main(["audit", "consistency", "--trust-roots", roots, "--service", "records",
                 "--witness", str(tmp_path / "w")]) == 2
    assert ("records: NOT CONSISTENT: events 1–5 sealed by "
            f"{old.label()} are not a prefix of events 1–13") in capsys.readouterr().out


def test_the_saved_state_accepts_growth_and_refuses_a_fork_or_a_shrink(own_database, keys,
                                                                      tmp_path, capsys):
    _, roots = keys
    state = tmp_path / "auditor" / "state.json"
    append_history(own_database, count=6)

    def run():
        code = main(["audit", "verify", "--trust-roots", roots, "--service", "records",
                     "--state", str(state)])
        return code, [line for line in capsys.readouterr().out.splitlines()
                      if "state" in line]

    assert run() == (0, ["records: state: first seen, 6 events accepted",
                         f"state {state}: saved"])
    saved = json.loads(state.read_text())
    assert saved["format"] == "simasn-auditor-state/1"
    assert saved["logs"]["records"]["size"] == 6

    append_history(own_database, stream="199202022016032002", count=5)
    code, lines = run()
    assert code == 0
    assert lines[0].startswith("records: state: only grew since 6 events (accepted ")
    assert lines[0].endswith(": 11 now (proof of 4 hashes)")
    accepted = state.read_text()

    rewrite_and_rehash(own_database, 4, {"field": "alamat", "value": "Jalan Palsu"})
    code, lines = run()
    assert code == 2
    assert lines[0].startswith("records: state: REFUSED: the log FORKED: events 1–11 no longer "
                               "give the root accepted")
    assert lines[-1] == f"state {state}: NOT updated (something above does not hold)"
    assert state.read_text() == accepted  # the fork is not accepted as the new normal

    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE records.events DISABLE TRIGGER events_append_only")
        cur.execute("DELETE FROM records.events WHERE position > 8")
        cur.execute("ALTER TABLE records.events ENABLE TRIGGER events_append_only")
        cur.execute("UPDATE records.event_log_head SET last_position = 8, last_hash = "
                    "(SELECT hash FROM records.events WHERE position = 8)")
    conn.close()
    code, lines = run()
    assert code == 2
    assert lines[0].startswith("records: state: REFUSED: the log SHRANK from 11 to 8 events")


def test_the_signing_service_seals_a_grown_log_once_and_the_witness_keeps_it(
        container_factory, service_config, tmp_path, database_url):
    witness_dir = tmp_path / "witness"
    container = container_factory(SigningService, {
        **service_config, "SIGNING_WITNESS": str(witness_dir),
        "SIGNING_CHECKPOINT_SECONDS": 5})
    container.start()
    witness = DirectoryWitness(witness_dir)
    append_history(database_url, stream="199303032017033003", count=1)
    conn = psycopg2.connect(database_url)
    try:
        with entrypoint_hook(container, "checkpoint_due") as tick:
            tick()  # records grew: sealed, and every checkpoint of the log copied out

            def copied_out():
                # the container's own timer may be the one that seals: wait for the witness
                # to hold the newest checkpoint, whoever made it
                newest = cp.read_checkpoints(conn)[-1]
                conn.rollback()
                held = witness.positions()
                return newest if held and held[-1] == newest.position else None

            try:
                newest = wait_for(copied_out, timeout=60,
                                  message="the witness holds the newest")
            except AssertionError as late:  # once in CI: what the database was doing
                conn.rollback()
                with conn.cursor() as cur:
                    cur.execute("SELECT pid, state, wait_event_type, wait_event, "
                                "now() - xact_start, left(query, 160) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> "
                                "pg_backend_pid()")
                    activity = cur.fetchall()
                raise AssertionError(f"{late}\nsessions: {activity}") from None
            assert newest.payload["trigger"] == "timer"
            with conn.cursor() as cur:
                cur.execute("SELECT last_position FROM records.event_log_head")
                assert newest.payload["heads"]["records"]["position"] == cur.fetchone()[0]
            conn.rollback()
            held = witness.positions()
            tick()  # nothing grew since: no second checkpoint
            assert witness.positions() == held
            assert cp.read_checkpoints(conn)[-1].position == newest.position
    finally:
        conn.close()
    doc = parse(witness.get(object_name(newest.position)).data)
    assert (doc["payload"], doc["recorded_at"]) == (newest.payload, newest.recorded_at)
    with entrypoint_hook(container, "public_checkpoints") as listing:
        assert listing({"after": newest.position - 1}) == {
            "checkpoints": [{"position": newest.position}], "more": False, "source": "witness"}
    with entrypoint_hook(container, "public_checkpoint") as one:
        assert one("latest") == doc == one(str(newest.position))


def test_with_a_tsa_the_checkpoint_seal_carries_a_time_stamp(keys):
    from datetime import UTC, datetime

    from services.signing import checkpoints
    from services.signing.signers import timestamper_for
    from tests.tsa_server import LocalTsa

    keystore, _ = keys
    index = json.loads((keystore.directory / "keystore.json").read_text())
    heads = {"records": {"position": 3, "hash": "ab" * 32}}
    with LocalTsa(keystore.directory, index) as tsa:
        payload = checkpoints.sign(keystore.signer("seal"), heads, datetime.now(UTC), "timer",
                                   timestamper_for(tsa.url))
        assert tsa.requests >= 1
    ok, reason = checkpoints.verify_signature(payload, keystore.trust_roots)
    assert ok, reason
    assert reason.startswith("signature valid, time-stamped by the TSA at ")
    plain = checkpoints.sign(keystore.signer("seal"), heads, datetime.now(UTC), "timer")
    assert checkpoints.verify_signature(plain, keystore.trust_roots) == (True, "signature valid")
