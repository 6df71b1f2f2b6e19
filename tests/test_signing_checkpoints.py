"""Signed checkpoints of the service logs (issue 6): the signing service seals every log's head,
and `simasn audit verify` pins a later change to the checkpoint it breaks; RFC 6962 inclusion
proofs of one event (`simasn audit prove`, checked offline by `simasn audit verify-proof`)."""

import base64
import hashlib
import json
from datetime import UTC, datetime

import psycopg2
import pytest

from services.signing import checkpoints, pki
from services.signing.events import REGISTRY
from services.signing.keystore import Keystore
from shared import SERVICES, audit
from shared.canonical import GENESIS_HASH, chain_hash, content_hash
from shared.config import with_user
from shared.db import UnitOfWork, make_engine
from shared.eventstore import EventStore
from shared.merkle import EMPTY_ROOT, inclusion_proof, merkle_root, verify_inclusion
from simasn_cli.main import main
from tests.helpers import rfc6962_root
from tests.test_audit_cli import append_history, tamper

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The service's key store (its seal signs the checkpoints) and its root certificate."""
    directory = tmp_path_factory.mktemp("keys") / "keystore"
    pki.init(directory, [{"account_id": "admin.bkd", "name": "Dr. Budi Santoso, M.Si.",
                          "jabatan": "Kepala Badan Kepegawaian Daerah"}])
    return Keystore(directory), str(directory / "root-ca.pem")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """A seal from another CA, which the auditor does not trust."""
    directory = tmp_path_factory.mktemp("stranger") / "keystore"
    pki.init(directory, [])
    return Keystore(directory)


def make_checkpoint(url, signer, trigger="on_demand", forge=None):
    """As the signing service would: read the heads as its own role, seal, append to its log."""
    engine = make_engine(with_user(url, "simasn_signing"), "signing", pool_size=1)
    try:
        with engine.begin() as connection:
            uow = UnitOfWork(connection, EventStore("signing", REGISTRY),
                             {"actor_id": "service:signing", "actor_role": "system"})
            heads = checkpoints.heads(uow.dbapi, SERVICES)
            payload = checkpoints.sign(signer, heads, datetime.now(UTC), trigger)
            if forge:
                payload = forge(payload)
            position = checkpoints.record(uow, payload)
    finally:
        engine.dispose()
    return position, payload


def event_hashes(url, schema="records"):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(f"SELECT hash FROM {schema}.events ORDER BY position")
        hashes = [row[0] for row in cur.fetchall()]
    conn.close()
    return hashes


def rewrite_and_rehash(url, position, payload, schema="records"):
    """What someone with full control of the database could do: change an event, recompute
    every later hash and the head, so that the chain verifies again."""
    conn = psycopg2.connect(url)
    events = EventStore(schema).read_all(conn, 1, 100000)
    prev = events[position - 2].hash if position > 1 else GENESIS_HASH
    rows = []
    for e in events[position - 1:]:
        body = payload if e.position == position else e.payload
        content = content_hash(e.event_id, e.stream_id, e.stream_type, e.event_type,
                               e.schema_version, body, e.metadata)
        digest = chain_hash(prev, e.position, e.version, e.recorded_at, content)
        rows.append((json.dumps(body), content, prev, digest, e.position))
        prev = digest
    conn.rollback()
    with conn, conn.cursor() as cur:
        cur.execute(f"ALTER TABLE {schema}.events DISABLE TRIGGER events_append_only")
        cur.executemany(f"UPDATE {schema}.events SET payload = %s::jsonb, content_hash = %s, "
                        "prev_hash = %s, hash = %s WHERE position = %s", rows)
        cur.execute(f"ALTER TABLE {schema}.events ENABLE TRIGGER events_append_only")
        cur.execute(f"UPDATE {schema}.event_log_head SET last_hash = %s WHERE id = 1", (prev,))
    conn.close()


def verify(roots, *extra):
    return main(["audit", "verify", "--trust-roots", roots, *extra])


def lines_of(out, schema):
    return [line for line in out.splitlines() if line.startswith(f"{schema}:")]


# -- making a checkpoint -------------------------------------------------------------------------

def test_a_checkpoint_seals_every_head_and_verifies(own_database, keys, capsys):
    keystore, roots = keys
    append_history(own_database)
    position, payload = make_checkpoint(own_database, keystore.signer("seal"))

    records = payload["heads"]["records"]
    hashes = event_hashes(own_database)
    assert set(payload["heads"]) == set(SERVICES)
    assert (records["position"], records["hash"], records["size"]) == (12, hashes[-1], 12)
    assert records["merkle_root"] == merkle_root(hashes)
    assert records["recorded_at"].endswith("Z")
    assert payload["heads"]["identity"] == {"position": 0, "hash": GENESIS_HASH,
                                            "recorded_at": None, "size": 0,
                                            "merkle_root": EMPTY_ROOT}
    assert payload["trigger"] == "on_demand"
    assert payload["certificate_serial"] == str(keystore.signer("seal").signing_cert.serial_number)
    assert checkpoints.verify_signature(payload, keystore.trust_roots) == (True, "signature valid")

    assert verify(roots) == 0
    out = capsys.readouterr().out
    (records,) = lines_of(out, "records")
    assert records.startswith("records: OK, 12 events verified in ")
    assert records.endswith("; 1 checkpoint(s) hold, up to position 12")
    assert (f"checkpoints: 1 signed, 1 trusted, latest trusted: checkpoint {position} signed at "
            f"{payload['signed_at']}") in out


def test_the_signing_role_reads_heads_and_hashes_but_no_payloads(own_database):
    conn = psycopg2.connect(with_user(own_database, "simasn_signing"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT last_position FROM records.event_log_head")
            cur.execute("SELECT position, hash FROM identity.events")
        conn.rollback()
        for statement in ("SELECT payload FROM records.events",
                          "SELECT metadata FROM identity.events",
                          "UPDATE records.event_log_head SET last_position = 0",
                          "SELECT * FROM records.relay_checkpoint"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                with conn.cursor() as cur:
                    cur.execute(statement)
            conn.rollback()
    finally:
        conn.close()


def test_verify_without_trust_roots_names_the_option(own_database, keys, capsys, monkeypatch,
                                                     tmp_path):
    keystore, _ = keys
    make_checkpoint(own_database, keystore.signer("seal"))
    monkeypatch.delenv("SIMASN_SIGNING_TRUST_ROOTS", raising=False)
    monkeypatch.setenv("SIMASN_SIGNING_KEYSTORE_DIR", str(tmp_path / "none"))
    assert main(["audit", "verify"]) == 1
    assert "--trust-roots" in capsys.readouterr().err
    # the key store's index is the last default: its public root certificates only
    monkeypatch.setenv("SIMASN_SIGNING_KEYSTORE_DIR", str(keystore.directory))
    assert main(["audit", "verify"]) == 0


# -- tampering pinned to the checkpoint ---------------------------------------------------------

def test_a_row_changed_before_the_checkpoint_position_is_pinned_to_it(own_database, keys, capsys):
    keystore, roots = keys
    append_history(own_database)
    position, payload = make_checkpoint(own_database, keystore.signer("seal"))
    tamper(own_database, "records", 7,
           "payload = jsonb_set(payload, '{value}', '\"Jalan Palsu\"')")

    assert verify(roots, "--service", "records") == 2
    out = capsys.readouterr().out
    assert "records: BROKEN at position 7: the stored event does not match its hash" in out
    assert (f"records: event 7 was changed; checkpoint {position} signed at "
            f"{payload['signed_at']} sealed it as it was (positions 1–12)") in out


def test_a_rewritten_and_rehashed_log_is_caught_by_the_checkpoint_alone(own_database, keys,
                                                                       capsys):
    keystore, roots = keys
    append_history(own_database)
    position, payload = make_checkpoint(own_database, keystore.signer("seal"))
    rewrite_and_rehash(own_database, 5, {"field": "alamat", "value": "Jalan Palsu"})

    conn = psycopg2.connect(own_database)
    assert audit.verify_log(conn, "records").ok  # the chain alone no longer tells
    conn.close()
    assert verify(roots, "--service", "records") == 2
    out = capsys.readouterr().out
    assert (f"records: BROKEN: rewritten after checkpoint {position} signed at "
            f"{payload['signed_at']}: position 12 no longer has the hash it sealed") in out


def test_a_rewrite_is_narrowed_between_checkpoints_even_if_a_later_one_sealed_it(
        own_database, keys, capsys):
    keystore, roots = keys
    seal = keystore.signer("seal")
    append_history(own_database, count=6)
    first, early = make_checkpoint(own_database, seal, "timer")
    append_history(own_database, stream="199202022016032002", count=6)
    second, sealed = make_checkpoint(own_database, seal, "timer")
    rewrite_and_rehash(own_database, 9, {"field": "alamat", "value": "Jalan Palsu"})
    make_checkpoint(own_database, seal, "timer")  # seals the forged chain: too late

    assert verify(roots) == 2
    out = capsys.readouterr().out
    assert lines_of(out, "records") == [
        f"records: BROKEN: rewritten after checkpoint {second} signed at {sealed['signed_at']}: "
        f"position 12 no longer has the hash it sealed; positions 1–6 still match checkpoint "
        f"{first}"]
    assert "identity: OK, 0 events verified" in out
    assert "signing: OK, 3 events verified" in out

    tamper(own_database, "records", 4, "metadata = metadata - 'reason'")
    assert verify(roots, "--service", "records") == 2
    assert lines_of(capsys.readouterr().out, "records") == [
        "records: BROKEN at position 4: the stored event does not match its hash (altered row)",
        f"records: event 4 was changed; checkpoint {first} signed at {early['signed_at']} "
        "sealed it as it was (positions 1–6)",
        f"records: rewritten after checkpoint {second} signed at {sealed['signed_at']}: "
        "position 12 no longer has the hash it sealed"]


def test_events_removed_from_the_end_with_the_head_moved_back_are_caught(own_database, keys,
                                                                         capsys):
    keystore, roots = keys
    append_history(own_database)
    position, payload = make_checkpoint(own_database, keystore.signer("seal"))
    conn = psycopg2.connect(own_database)
    with conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE records.events DISABLE TRIGGER events_append_only")
        cur.execute("DELETE FROM records.events WHERE position > 10")
        cur.execute("ALTER TABLE records.events ENABLE TRIGGER events_append_only")
        cur.execute("UPDATE records.event_log_head SET last_position = 10, last_hash = "
                    "(SELECT hash FROM records.events WHERE position = 10)")
    conn.close()

    assert verify(roots, "--service", "records") == 2
    assert (f"records: BROKEN: rewritten after checkpoint {position} signed at "
            f"{payload['signed_at']}: position 12 it sealed is gone") in capsys.readouterr().out


def test_a_row_changed_after_the_checkpoint_position_is_a_plain_chain_break(own_database, keys,
                                                                            capsys):
    keystore, roots = keys
    append_history(own_database)
    make_checkpoint(own_database, keystore.signer("seal"))
    append_history(own_database, stream="199202022016032002", count=3)
    tamper(own_database, "records", 14, "metadata = metadata - 'reason'")

    assert verify(roots, "--service", "records") == 2
    out = capsys.readouterr().out
    assert lines_of(out, "records") == [
        "records: BROKEN at position 14: the stored event does not match its hash (altered row)"]
    assert "checkpoints: 1 signed, 1 trusted" in out


# -- checkpoints that must not be trusted -------------------------------------------------------

def _flip_last_byte(payload):
    blob = bytearray(base64.b64decode(payload["cms"]))
    blob[-1] ^= 0x01  # inside the RSA signature value, the last field of the SignerInfo
    return {**payload, "cms": base64.b64encode(bytes(blob)).decode()}


FORGERIES = {
    "heads changed after signing": (
        lambda p: {**p, "heads": {**p["heads"], "records": {**p["heads"]["records"],
                                                             "position": 11}}},
        "does not match the signed heads"),
    "signature bytes corrupted": (_flip_last_byte, "does not match the signed heads"),
    "not a CMS at all": (lambda p: {**p, "cms": base64.b64encode(b"nonsense").decode()},
                         "cannot be read"),
    "signed_at moved": (lambda p: {**p, "signed_at": "2020-01-01T00:00:00Z"},
                        "is not the signed time"),
    "another certificate named": (lambda p: {**p, "certificate_serial": "12345"},
                                  "is not the signer's"),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_checkpoint_with_a_bad_signature_is_reported(own_database, keys, capsys, forgery):
    keystore, roots = keys
    append_history(own_database)
    forge, reason = FORGERIES[forgery]
    position, payload = make_checkpoint(own_database, keystore.signer("seal"), forge=forge)

    assert checkpoints.verify_signature(payload, keystore.trust_roots)[0] is False
    assert verify(roots, "--service", "records") == 2
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "NOT TRUSTED" in line]
    assert line.startswith(f"checkpoint {position} signed at ")
    assert reason in line
    assert "records: OK, 12 events verified" in out  # an untrusted head pins nothing
    assert "hold, up to position" not in out


def test_a_checkpoint_sealed_under_an_untrusted_root_is_reported(own_database, keys, stranger,
                                                                 capsys):
    _, roots = keys
    append_history(own_database)
    position, payload = make_checkpoint(own_database, stranger.signer("seal"))
    rewrite_and_rehash(own_database, 3, {"field": "alamat", "value": "Jalan Palsu"})

    ok, reason = checkpoints.verify_signature(payload, stranger.trust_roots)
    assert ok, reason
    assert verify(roots) == 2
    out = capsys.readouterr().out
    assert (f"checkpoint {position} signed at {payload['signed_at']}: NOT TRUSTED: the sealing "
            "certificate is not trusted at the signing time (NO_CERTIFICATE_CHAIN_FOUND)") in out
    assert "records: OK, 12 events verified" in out  # its heads are not evidence


# -- inclusion proofs ---------------------------------------------------------------------------

def test_merkle_proofs_hold_for_every_leaf_of_trees_of_1_to_33():
    for size in range(1, 34):
        leaves = [hashlib.sha256(f"{size}-{i}".encode()).hexdigest() for i in range(size)]
        root = merkle_root(leaves)
        assert root == rfc6962_root(leaves).hex()
        for index in range(size):
            proof = inclusion_proof(leaves, index)
            assert len(proof) <= (size - 1).bit_length()  # at most ceil(log2(size))
            assert verify_inclusion(leaves[index], index, size, proof, root)
            wrong_leaf = hashlib.sha256(b"forged").hexdigest()
            assert not verify_inclusion(wrong_leaf, index, size, proof, root)
            if size > 1:
                assert not verify_inclusion(leaves[index], (index + 1) % size, size, proof, root)
                assert not verify_inclusion(leaves[index], index, size, proof[:-1], root)
        assert not verify_inclusion(leaves[0], size, size, [], root)
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").hexdigest()


def test_prove_gives_an_offline_proof_that_fails_when_anything_changes(own_database, keys,
                                                                      capsys, tmp_path,
                                                                      monkeypatch):
    keystore, roots = keys
    append_history(own_database)
    position, payload = make_checkpoint(own_database, keystore.signer("seal"))

    assert main(["audit", "prove", "records", "7", "--trust-roots", roots]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert (proof["tree_size"], proof["leaf_index"]) == (12, 6)
    assert proof["merkle_root"] == payload["heads"]["records"]["merkle_root"]
    assert proof["event"]["payload"] == {"field": "alamat", "value": "Jalan 6"}
    assert proof["checkpoint"]["position"] == position
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    # offline: nothing below may touch a database
    monkeypatch.setenv("SIMASN_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")
    assert main(["audit", "verify-proof", str(path), "--trust-roots", roots]) == 0
    assert ("proof holds: records event 7 (FieldChanged of 199001012015031001) is in the log "
            f"as sealed by checkpoint {position} signed at {payload['signed_at']} "
            "(events 1–12)") in capsys.readouterr().out

    changed = json.loads(json.dumps(proof))
    changed["event"]["payload"]["value"] = "Jalan Palsu"
    moved = json.loads(json.dumps(proof))
    moved["audit_path"][0] = "0" * 64
    for bad, reason in ((changed, "does not match its content hash"),
                        (moved, "does not lead from the event to the sealed root")):
        path.write_text(json.dumps(bad))
        assert main(["audit", "verify-proof", str(path), "--trust-roots", roots]) == 2
        assert reason in capsys.readouterr().out


def test_prove_refuses_what_no_checkpoint_covers_or_a_log_changed_since(own_database, keys,
                                                                        capsys):
    keystore, roots = keys
    append_history(own_database)
    make_checkpoint(own_database, keystore.signer("seal"))
    append_history(own_database, stream="199202022016032002", count=2)
    assert main(["audit", "prove", "records", "13", "--trust-roots", roots]) == 1
    assert "no trusted checkpoint with a Merkle root covers records event 13" in \
        capsys.readouterr().err
    rewrite_and_rehash(own_database, 2, {"field": "alamat", "value": "Jalan Palsu"})
    assert main(["audit", "prove", "records", "3", "--trust-roots", roots]) == 1
    assert "the records log no longer matches checkpoint" in capsys.readouterr().err


def test_the_audit_status_shows_each_log_by_the_newest_checkpoint_and_a_rewrite_breaks_it(
        own_database, container_factory, service_config):
    """The auditor page's chain status (issue 16, GET /api/audit/status): every log by the
    newest signed checkpoint; an event rewritten and rehashed below the checkpointed head is
    `broken`, though the log's own chain verifies again."""
    from nameko.standalone.rpc import ServiceRpcProxy

    from services.signing.service import SigningService
    from shared import SERVICES
    from shared.errors import Forbidden
    from tests.helpers import signed
    from tests.records_helpers import ADMIN, AUDITOR, FASIL
    from tests.test_audit_cli import append_history

    config = {**service_config, "DATABASE_URL": own_database}
    container_factory(SigningService, config).start()

    def status(who=AUDITOR):
        with ServiceRpcProxy("signing", config, context_data=signed(who, config)) as signing:
            return signing.audit_status()

    before = status()
    assert before["checkpoint"] is None and {log["status"] for log in before["logs"]} == {
        "unchecked"}
    append_history(own_database, stream="199404042018034004", count=3)
    with ServiceRpcProxy("signing", config, context_data=signed(ADMIN, config)) as signing:
        made = signing.sign_checkpoint()
    append_history(own_database, stream="199404042018034005", count=1)
    after = status()
    assert after["checkpoint"]["position"] == made["position"]
    assert [log["log"] for log in after["logs"]] == list(SERVICES)
    records = next(log for log in after["logs"] if log["log"] == "records")
    assert records["status"] == "holds" and records["unchanged_since_checkpoint"]
    assert records["merkle_root"] and records["events_since_checkpoint"] == 1
    assert after["witness"]["configured"] is False
    rewrite_and_rehash(own_database, 2, {"forged": True})
    broken = next(log for log in status()["logs"] if log["log"] == "records")
    assert broken["status"] == "broken" and broken["unchanged_since_checkpoint"] is False
    with pytest.raises(Forbidden):
        status(FASIL)
