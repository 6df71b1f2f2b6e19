"""Issue 14, part 3: what a region sent, applied to the real records service through
records.apply_region_change, in sequence order, exactly once in effect; refusals quarantined with
records' field-level reasons and fixed by a corrected event or an administrator's decision."""

import pytest

from services.records.service import RecordsService
from services.sync.service import SyncService
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.identity_helpers import employee_for, rpc, unique_nip
from tests.sync_helpers import change, inbound, onboard, status, sync_log, wait_status

SYSTEM = {"actor_id": "service:test", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}


def registration(sequence: int, nip: str, region: str = "3507", **data) -> dict:
    """A kab/kota employee as the region registers them: its own unit (`<instansi>.<code>`,
    named), the instansi and the reason left to the sync (records' RegionRegistration)."""
    payload = {k: v for k, v in employee_for(nip).items() if k not in ("reason", "opd_id")}
    unit = {"opd_id": f"{region}.dinkes", "opd_name": "Dinas Kesehatan"}
    return change(sequence, nip, "employee_registered", {**payload, **unit, **data})


@pytest.fixture
def applied(start_gateway, own_database):
    client, people, config = start_gateway(SyncService, RecordsService,
                                           DATABASE_URL=own_database)
    admin = http_login(client, people, people.staff(["administrator"]))
    return client, admin, config, own_database


def employee(config, nip):
    with rpc(config, SYSTEM, service="records") as records:
        return records.get_employee(nip)


def test_reordered_events_are_applied_in_sequence_order_exactly_once(applied):
    client, admin, config, url = applied
    region = onboard(client, admin, "3507")
    nip = unique_nip()
    register = registration(1, nip)
    rename = change(2, nip, data={"changes": {"name": "Siti Aminah"}})
    assert region.send([rename])[1]["events"][0]["outcome"] == "waiting"
    assert region.send([register])[1]["events"][0]["outcome"] == "received"
    done = wait_status(client, admin, "3507", lambda s: s["applied_through"] == 2, "applied")
    assert done["lag"] == 0 and done["waiting"] == 0
    applied_log = sync_log(url, "3507", "SyncEventApplied")
    assert [e["sequence"] for e in applied_log] == [1, 2]
    record = employee(config, nip)
    assert record["name"] == "Siti Aminah"
    # sent again (a region unsure whether its batch arrived): acknowledged, nothing applied
    again = region.send([register, rename])[1]
    assert [e["outcome"] for e in again["events"]] == ["duplicate", "duplicate"]
    assert employee(config, nip)["version"] == record["version"]
    assert len(sync_log(url, "3507", "SyncEventApplied")) == 2


def test_a_refused_event_is_quarantined_with_reasons_and_fixed_by_a_corrected_event(applied):
    client, admin, config, url = applied
    region = onboard(client, admin, "3507")
    bad_nip, good_nip = unique_nip(), unique_nip()
    bad = registration(1, bad_nip, golongan="IX/z")
    later_same = change(2, bad_nip, data={"changes": {"name": "Menunggu"}})
    other = registration(3, good_nip)
    region.send([bad, later_same, other])
    wait_status(client, admin, "3507", lambda s: s["quarantined"] == 1 and s["waiting"] == 1,
                "one quarantined, one held behind it")
    rows = inbound(url, "3507")
    assert rows[1]["status"] == "quarantined" and rows[2]["status"] == "waiting"
    assert rows[3]["status"] == "applied"  # another employee is not held up
    refusal = rows[1]["refusal"]
    assert refusal["status"] == 422 and refusal["field"]
    code, seen = region.get("quarantine")
    assert code == 200 and seen[0]["sequence"] == 1 and seen[0]["refusal"]["status"] == 422
    admin_view = client.call("GET", "/api/sync/regions/3507/quarantine", admin).body
    assert admin_view == seen
    # the region corrects it: a new event id for the same sequence
    fixed = registration(1, bad_nip)
    answer = region.send([fixed])[1]["events"][0]
    assert answer["outcome"] == "received" and answer["replaces"] == bad["event_id"]
    wait_status(client, admin, "3507", lambda s: s["applied_through"] == 3, "all applied")
    assert employee(config, bad_nip)["name"] == "Menunggu"
    assert len(sync_log(url, "3507", "SyncEventQuarantined")) == 1


def test_another_instansi_employee_is_refused_and_an_administrator_decides(applied):
    client, admin, config, url = applied
    malang, kediri = onboard(client, admin, "3507"), onboard(client, admin, "3571")
    nip = unique_nip()
    malang.send([registration(1, nip)])
    wait_status(client, admin, "3507", lambda s: s["applied_through"] == 1, "registered")
    kediri.send([change(1, nip, data={"changes": {"name": "Bukan pegawai Kediri"}})])
    wait_status(client, admin, "3571", lambda s: s["quarantined"] == 1, "quarantined")
    assert inbound(url, "3571")[1]["refusal"]["status"] == 403
    assert employee(config, nip)["name"] != "Bukan pegawai Kediri"
    skipped = client.call("POST", "/api/sync/regions/3571/quarantine/1/skip", admin,
                          {"reason": "bukan pegawai Kota Kediri"})
    assert skipped.status == 200 and skipped.body["status"] == "skipped"
    assert status(client, admin, "3571")["applied_through"] == 1
    again = client.call("POST", "/api/sync/regions/3571/quarantine/1/retry", admin,
                        {"reason": "coba lagi"})
    assert again.status == 409 and again.code == "not_quarantined"
    wait_for(lambda: sync_log(url, "3571", "SyncQuarantineSkipped"), message="skip logged")


@pytest.fixture(params=[500, 7], ids=["one-chunk", "chunks-of-7"])
def applied_in_chunks(request, start_gateway, own_database):
    """As `applied`, the applier taking SYNC_APPLY_BATCH events a chunk."""
    client, people, config = start_gateway(SyncService, RecordsService,
                                           DATABASE_URL=own_database,
                                           SYNC_APPLY_BATCH=request.param)
    admin = http_login(client, people, people.staff(["administrator"]))
    return client, admin, config, own_database


def test_a_mixed_batch_ends_as_the_feed_leads_and_every_event_is_accounted_for(
        applied_in_chunks):
    """One push of registrations, data pokok changes and history entries of several employees,
    one refused registration with later events of its NIP behind it: records ends as the
    applied events lead, each event applied, quarantined or left waiting behind its NIP —
    in one chunk, and in chunks of 7 (the events behind the quarantined one in later chunks)."""
    client, admin, config, url = applied_in_chunks
    region = onboard(client, admin, "3507")
    nips = [unique_nip() for _ in range(4)]
    refused_nip = nips[3]
    events = [registration(i + 1, nip) for i, nip in enumerate(nips[:3])]
    events.append(registration(4, refused_nip, golongan="IX/z"))
    expected = {nip: {"name": employee_for(nip)["name"], "kinerja": set()} for nip in nips[:3]}
    for sequence in range(5, 41):
        nip = nips[sequence % 4]
        if sequence % 3 == 0:
            year = 2000 + sequence
            data = {"history": "kinerja", "entry": {"tahun": year, "predikat": "Baik"}}
            events.append(change(sequence, nip, "history_recorded", data))
            expected.get(nip, {"kinerja": set()})["kinerja"].add(year)
        else:
            events.append(change(sequence, nip, data={"changes": {"name": f"Nama {sequence}"}}))
            expected.get(nip, {})["name"] = f"Nama {sequence}"
    region.send(events[20:])
    assert region.send(events[:20])[0] == 200  # the rest
    assert {e["outcome"] for e in region.send(events[5:10])[1]["events"]} == {"duplicate"}
    behind = [e["sequence"] for e in events if e["nip"] == refused_nip and e["sequence"] > 4]
    wait_status(client, admin, "3507", lambda s: s["quarantined"] == 1 and s["waiting"] == len(
        behind) and s["applied_through"] == 3, "every event decided")
    rows = inbound(url, "3507")
    assert {s for s, r in rows.items() if r["status"] == "waiting"} == set(behind)
    assert rows[4]["status"] == "quarantined" and rows[4]["refusal"]["status"] == 422
    applied_sequences = {s for s, r in rows.items() if r["status"] == "applied"}
    assert applied_sequences == set(range(1, 41)) - set(behind) - {4}
    assert sorted(e["sequence"] for e in sync_log(url, "3507", "SyncEventApplied")) == sorted(
        applied_sequences)
    assert [e["sequence"] for e in sync_log(url, "3507", "SyncEventQuarantined")] == [4]
    for nip, want in expected.items():
        record = employee(config, nip)
        years = {e["tahun"] for e in record["histories"]["kinerja"]}
        assert (record["name"], years) == (want["name"], want["kinerja"]), nip
