"""Issue 14, parts 2, 3 and 5 (first cut): a kabupaten/kota onboarded with an HMAC key pushes
signed batches through the real gateway to the real sync service (PostgreSQL, RabbitMQ); every
event is logged raw, then held, refused or queued to be applied; keys rotate with an overlap;
gaps are reported; a silent region raises the alarm. The apply step against records is in
tests/test_sync_apply.py."""

import time
import uuid

import pytest

from services.sync import domain
from services.sync.service import SyncService
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.sync_helpers import (
    Region,
    change,
    inbound,
    onboard,
    region_client,
    status,
    sync_log,
    wait_status,
)

NIP = "198503152010012003"


@pytest.fixture
def feed(start_gateway, own_database):
    """Gateway, identity and sync (no records: nothing can be applied here, so every event
    stays where receiving put it), an administrator's token, and a start function."""

    def start(**overrides):
        client, people, config = start_gateway(SyncService, DATABASE_URL=own_database,
                                               **overrides)
        admin = http_login(client, people, people.staff(["administrator"]))
        return client, people, admin

    start.url = own_database
    return start


# -- domain: the protocol's rules --------------------------------------------------------------


def test_the_reference_client_signs_exactly_what_sync_checks():
    body = b'{"events":[]}'
    assert region_client.signature("s3cret", "1700000000", "batch-0001", body) == \
        domain.sign("s3cret", "1700000000", "batch-0001", body)
    assert domain.signature_base("1700000000", "b", b"{}") == b"1700000000\nb\n{}"
    assert domain.signature_matches("s3cret", "1", "b", b"x", domain.sign("s3cret", "1", "b",
                                                                             b"x").upper())
    assert not domain.signature_matches("s3cret", "1", "b", b"y", domain.sign("s3cret", "1",
                                                                                 "b", b"x"))


def test_window_gaps_and_refusals_by_rule():
    assert domain.within_window(1000, 1300, 300) and domain.within_window(1300, 1000, 300)
    assert not domain.within_window(1000, 1301, 300)
    assert domain.parse_timestamp("17e8") is None and domain.parse_timestamp("-5") is None
    assert domain.advance(2, [3, 4, 6]) == 4
    assert domain.missing_ranges(4, [6, 7, 10]) == [[5, 5], [8, 9]]
    assert domain.missing_ranges(4, []) == []
    for status_code in (400, 403, 404, 409, 422):
        assert domain.quarantines(status_code, transient=False)
    for status_code, transient in ((503, True), (500, True), (None, True), (422, True)):
        assert not domain.quarantines(status_code, transient)
    assert [domain.retry_delay(n, 5, 60) for n in (1, 2, 3, 5)] == [5, 10, 20, 60]
    assert len(domain.regions()) == 38 and domain.regions()["3507"] == "Kabupaten Malang"


# -- onboarding and keys ------------------------------------------------------------------------


def test_onboarding_shows_the_secret_once_and_stores_it_sealed(feed):
    client, people, admin = feed()
    region = onboard(client, admin, "3507")
    keys = client.call("GET", "/api/sync/regions/3507/keys", admin)
    assert keys.status == 200 and [k["key_id"] for k in keys.body] == [region.key_id]
    assert "secret" not in keys.body[0]
    import psycopg2

    conn = psycopg2.connect(feed.url)
    with conn.cursor() as cur:
        cur.execute("SELECT sealed_secret FROM sync.region_keys WHERE key_id = %s",
                    (region.key_id,))
        (sealed,) = cur.fetchone()
    conn.close()
    assert region.secret not in sealed
    again = client.call("POST", "/api/sync/regions", admin,
                        {"region": "3507", "reason": "PKS sinkronisasi lagi"})
    assert again.status == 409 and again.code == "region_already_onboarded"
    unknown = client.call("POST", "/api/sync/regions", admin,
                          {"region": "3599", "reason": "bukan kabupaten/kota Jatim"})
    assert unknown.status == 422
    auditor = http_login(client, people, people.staff(["auditor"]))
    assert client.call("POST", "/api/sync/regions", auditor,
                       {"region": "3508", "reason": "PKS sinkronisasi"}).status == 403
    assert client.call("GET", "/api/sync/regions", auditor).status == 200
    onboarded = [e["type"] for e in sync_log(feed.url, "3507")]
    assert onboarded == ["RegionOnboarded"]


def test_key_rotation_both_keys_verify_during_the_overlap_then_the_old_one_is_refused(feed):
    client, _, admin = feed()
    old = onboard(client, admin, "3573")
    added = client.call("POST", "/api/sync/regions/3573/keys", admin,
                        {"reason": "rotasi kunci tahunan"})
    assert added.status == 201, added.body
    new = old.with_key(added.body["key_id"], added.body["secret"])
    assert old.send([change(1, NIP)])[0] == 200
    assert new.send([change(2, NIP)])[0] == 200
    retired = client.call("POST", f"/api/sync/regions/3573/keys/{old.key_id}/retire", admin,
                          {"reason": "rotasi selesai"})
    assert retired.status == 200 and retired.body["status"] == "retired"
    refused = old.send([change(3, NIP)])
    assert refused[0] == 401 and refused[1]["code"] == "key_retired"
    assert new.send([change(3, NIP)])[0] == 200
    last = client.call("POST", f"/api/sync/regions/3573/keys/{new.key_id}/retire", admin,
                       {"reason": "cabut semua"})
    assert last.status == 409 and last.code == "last_active_key"
    types = [e["type"] for e in sync_log(feed.url, "3573")]
    assert types[:2] == ["RegionOnboarded", "RegionKeyAdded"] and "RegionKeyRetired" in types


# -- receiving: what is refused before anything is recorded ----------------------------------


def test_bad_signatures_old_timestamps_and_replayed_batches_are_refused(feed):
    client, _, admin = feed(SYNC_MAX_BATCH_EVENTS=5, SYNC_MAX_BATCH_BYTES=4096)
    region = onboard(client, admin, "3578")
    other = onboard(client, admin, "3579")
    batch_id = str(uuid.uuid4())
    first = region.send([change(1, NIP)], batch_id=batch_id)
    assert first[0] == 200 and first[1]["events"][0]["outcome"] == "received"

    def refused(answer, status_code, code):
        assert answer[0] == status_code and answer[1]["code"] == code, answer

    # the same batch played again, and the same body re-signed under the used batch id
    refused(region.send([change(1, NIP)], batch_id=batch_id), 409, "batch_replayed")
    # a signature that does not match: another secret, or a body changed after signing
    refused(region.with_key(region.key_id, "bukan-rahasia").send([change(2, NIP)]), 401,
            "signature_invalid")
    body = b'{"events":[]}'
    stamp = str(int(time.time()))
    tampered = region_client.signature(region.secret, stamp, "batch-tampered", body)
    import urllib.request

    request = urllib.request.Request(
        f"{client.base}/api/sync/3578/batches", method="POST", data=body + b" ",
        headers={"Content-Type": "application/json", "X-Simasn-Region": "3578",
                 "X-Simasn-Key-Id": region.key_id, "X-Simasn-Timestamp": stamp,
                 "X-Simasn-Batch-Id": "batch-tampered", "X-Simasn-Signature": tampered})
    refused(region_client._call(request), 401, "signature_invalid")
    # another region's key, an unknown key, a missing header
    refused(Region(client.base, "3578", other.key_id, other.secret).send([change(2, NIP)]),
            401, "key_unknown")
    refused(region.with_key("3578-000000000000", region.secret).send([change(2, NIP)]), 401,
            "key_unknown")
    refused(region_client._call(urllib.request.Request(
        f"{client.base}/api/sync/3578/batches", method="POST", data=body,
        headers={"Content-Type": "application/json"})), 401, "signature_missing")
    # outside the replay window, either side
    refused(region.send([change(2, NIP)], timestamp=int(time.time()) - 301), 401,
            "timestamp_outside_window")
    refused(region.send([change(2, NIP)], timestamp=int(time.time()) + 400), 401,
            "timestamp_outside_window")
    # signed, but not a batch: malformed JSON, a bad field, too many events, too many bytes
    refused(region.send([], body=b'{"events": ['), 400, "batch_malformed")
    bad = region.send([{**change(2, NIP), "sequence": "dua"}])
    refused(bad, 422, "batch_invalid")
    assert bad[1]["field"] == "events.0.sequence"
    refused(region.send([change(2, NIP, kind="employee_deleted")]), 422, "batch_invalid")
    refused(region.send([change(s, NIP) for s in range(2, 8)]), 413, "batch_too_many_events")
    refused(region.send([change(2, NIP, data={"catatan": "x" * 5000})]), 413, "batch_too_large")
    # nothing of the refused requests was recorded: one batch, one event (the applier may have
    # deferred that event meanwhile: no records runs here)
    log = sync_log(feed.url, "3578")
    assert [e["type"] for e in log if e["type"].startswith("Sync")
            and e["type"] != "SyncApplyDeferred"] == ["SyncBatchReceived", "SyncEventReceived"]
    assert list(inbound(feed.url, "3578")) == [1]


# -- duplicates, reordering, gaps ---------------------------------------------------------------


def test_duplicates_reordering_and_a_gap_reported_then_filled(feed):
    client, _, admin = feed(SYNC_GAP_REPORT_SECONDS=1)
    region = onboard(client, admin, "3515")
    one, two, three = change(1, NIP), change(2, NIP), change(3, NIP)
    five, four = change(5, NIP), change(4, NIP)
    answer = region.send([one, two])[1]
    assert [e["outcome"] for e in answer["events"]] == ["received", "received"]
    answer = region.send([five, four])[1]
    assert {e["sequence"]: e["outcome"] for e in answer["events"]} == {5: "waiting",
                                                                       4: "waiting"}
    assert answer["received_through"] == 2 and answer["missing"] == [[3, 3]]
    # the gap stays open past SYNC_GAP_REPORT_SECONDS: reported, once, with what is missing
    reported = wait_status(client, admin, "3515", lambda s: s["gap_reported"], "gap reported")
    assert reported["missing"] == [[3, 3]] and reported["held_for_gap"] == 2
    assert reported["last_sequence"] == 5 and reported["lag"] == 5
    gap = sync_log(feed.url, "3515", "SyncGapReported")
    assert len(gap) == 1 and gap[0]["missing"] == [[3, 3]] and gap[0]["held"] == 2
    # the region reads the same from its own signed status
    own = region.get("status")
    assert own[0] == 200 and own[1]["missing"] == [[3, 3]] and own[1]["gap_reported"]
    # duplicates: the same event again (in a new batch) is acknowledged and ignored; the same
    # sequence under another event id, or an event id used for another sequence, is refused
    answer = region.send([two, three, change(1, NIP), {**change(6, NIP),
                                                        "event_id": one["event_id"]}])[1]
    assert [(e["sequence"], e["outcome"], e["code"]) for e in answer["events"]] == [
        (2, "duplicate", None), (3, "received", None), (1, "refused", "sequence_taken"),
        (6, "refused", "event_id_reused")]
    assert answer["received_through"] == 5 and answer["missing"] == []
    closed = status(client, admin, "3515")
    assert closed["missing"] == [] and not closed["gap_reported"] and closed["held_for_gap"] == 0
    # every event received is accounted for: five held in sequence order, one duplicate,
    # two refused with their raw payloads kept in the log
    rows = inbound(feed.url, "3515")
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert all(rows[s["sequence"]]["event_id"] == s["event_id"]
               for s in (one, two, three, four, five))
    log = sync_log(feed.url, "3515")
    received = [e for e in log if e["type"] == "SyncEventReceived"]
    assert sorted(e["sequence"] for e in received) == [1, 2, 3, 4, 5]
    assert {e["sequence"]: e["waiting_for_gap"] for e in received} == {
        1: False, 2: False, 3: False, 4: True, 5: True}
    assert len([e for e in log if e["type"] == "SyncEventDuplicated"]) == 1
    refusals = [e for e in log if e["type"] == "SyncEventRefused"]
    assert sorted(e["code"] for e in refusals) == ["event_id_reused", "sequence_taken"]
    assert all(NIP in e["raw"] for e in refusals)
    assert [e["type"] for e in log].count("SyncGapClosed") == 1


def test_records_unreachable_defers_the_feed_and_never_quarantines(feed):
    """No records service runs: the applier's call fails as a transient error; the region's
    feed waits and is tried again with a growing delay, nothing is quarantined."""
    client, _, admin = feed(SYNC_RETRY_SECONDS=0.05, SYNC_RETRY_MAX_SECONDS=0.2)
    region = onboard(client, admin, "3525")
    assert region.send([change(1, NIP), change(2, NIP)])[0] == 200
    wait_for(lambda: len(sync_log(feed.url, "3525", "SyncApplyDeferred")) >= 3, timeout=30,
             message="three deferrals")
    deferred = sync_log(feed.url, "3525", "SyncApplyDeferred")
    assert [e["attempts"] for e in deferred[:3]] == [1, 2, 3]
    assert all(e["sequence"] == 1 for e in deferred)  # the feed stops at the first event
    rows = inbound(feed.url, "3525")
    assert {s: r["status"] for s, r in rows.items()} == {1: "waiting", 2: "waiting"}
    now = status(client, admin, "3525")
    assert now["quarantined"] == 0 and now["applied_through"] == 0 and now["waiting"] == 2
    assert now["lag"] == 2


# -- what the region and BKD see ----------------------------------------------------------------


def test_signed_reads_and_the_administrators_views(feed):
    client, people, admin = feed()
    region = onboard(client, admin, "3571")
    code, own = region.get("status")
    assert code == 200 and own["region"] == "3571" and own["name"] == "Kota Kediri"
    assert own["last_received_at"] is None and own["active_keys"] == 1
    assert region.get("quarantine") == (200, [])
    bad = region.with_key(region.key_id, "salah").get("status")
    assert bad[0] == 401 and bad[1]["code"] == "signature_invalid"
    old = region.get("status", timestamp=int(time.time()) - 3600)
    assert old[0] == 401 and old[1]["code"] == "timestamp_outside_window"
    # a signature for one path does not open another
    stamp = str(int(time.time()))
    import urllib.request

    forged = urllib.request.Request(
        f"{client.base}/api/sync/3571/quarantine", method="GET",
        headers={"X-Simasn-Region": "3571", "X-Simasn-Key-Id": region.key_id,
                 "X-Simasn-Timestamp": stamp,
                 "X-Simasn-Signature": region_client.signature(
                     region.secret, stamp, "GET /api/sync/3571/status", b"")})
    assert region_client._call(forged)[0] == 401
    assert region.send([change(1, NIP)])[0] == 200
    listing = client.call("GET", "/api/sync/regions", admin)
    assert listing.status == 200 and [r["region"] for r in listing.body] == ["3571"]
    assert listing.body[0]["last_sequence"] == 1 and listing.body[0]["last_received_at"]
    assert client.call("GET", "/api/sync/regions/3571/quarantine", admin).body == []
    pegawai = http_login(client, people, people.pegawai())
    assert client.call("GET", "/api/sync/regions", pegawai).status == 403
    assert client.call("GET", "/api/sync/regions/3504", admin).status == 404


def test_a_silent_region_raises_the_alarm_until_it_sends_again(feed):
    client, _, admin = feed(SYNC_SILENCE_SECONDS=1)
    region = onboard(client, admin, "3509")
    silent = wait_status(client, admin, "3509", lambda s: s["silent"], "silence alarm")
    assert silent["silent_since"]
    alarms = sync_log(feed.url, "3509", "RegionWentSilent")
    assert len(alarms) == 1 and alarms[0]["last_received_at"] is None
    assert region.send([change(1, NIP)])[0] == 200
    types = [e["type"] for e in sync_log(feed.url, "3509")]
    # the batch ends the silence (and, SYNC_SILENCE_SECONDS being 1 s here, it may start again)
    assert types.index("RegionResumed") > types.index("RegionWentSilent")
    assert types.index("RegionResumed") == types.index("SyncBatchReceived") + 1
