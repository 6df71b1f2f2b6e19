"""Issue 14's acceptance over both transports (Y-37): one generated feed carrying every fault
class, sent over HTTP through the gateway and over AMQP as the region's own broker user by one
helper (sync_helpers.Transport), to the real sync and records services. After each fault the
records equal the state the events received so far lead to, and every event is accounted for
(sync_helpers.accounted): applied, duplicate, quarantined or waiting; a refused batch is
answered (HTTP) or dead-lettered into the log (AMQP), and takes nothing."""

import json
import random

import pytest

from services.records.service import RecordsService
from services.sync.service import SyncService
from shared.testing import wait_for
from tests.gateway_helpers import http_login
from tests.identity_helpers import rpc, unique_nip
from tests.sync_helpers import (
    Transport,
    accounted,
    change,
    inbound,
    onboard,
    region_client,
    status,
    wait_status,
)
from tests.test_sync_apply import SYSTEM, registration
from tests.test_sync_crash import generate_feed


@pytest.fixture(params=["http", "amqp"])
def transport(request, start_gateway, own_database, broker_region):
    """Gateway, sync and records on this test's database, an administrator, and the way in."""
    client, people, config = start_gateway(SyncService, RecordsService,
                                           DATABASE_URL=own_database)
    admin = http_login(client, people, people.staff(["administrator"]))
    way = Transport(request.param, own_database)
    if request.param == "amqp":
        way.amqp_urls = {code: broker_region(code) for code in ("3507", "3571")}
    return way, client, admin, config


def state_after(events: list[dict]) -> dict[str, tuple[str, set]]:
    """Per NIP registered, the name and kinerja years the events lead to (in sequence order)."""
    state = {}
    for event in sorted(events, key=lambda e: e["sequence"]):
        nip, data = event["nip"], event["data"]
        if event["kind"] == "employee_registered":
            state[nip] = (data["name"], set())
        elif event["kind"] == "data_pokok_changed":
            state[nip] = (data["changes"]["name"], state[nip][1])
        else:
            state[nip][1].add(data["entry"]["tahun"])
    return state


def test_every_fault_class_over_each_transport_leaves_records_as_the_feed_says(transport):
    way, client, admin, config = transport
    url = way.database_url
    malang, kediri = onboard(client, admin, "3507"), onboard(client, admin, "3571")
    rng = random.Random(14)
    events, _ = generate_feed(rng, 100)
    invalid = registration(len(events) + 1, unique_nip(), golongan="IX/z")
    batches = [events[i:i + 10] for i in range(0, len(events), 10)]

    def settled():
        """Sync has done what it can: every event up to received_through applied or
        quarantined. Then records equal the state of what is applied, and all is accounted."""
        def done():
            through = status(client, admin, "3507")["received_through"]
            rows = inbound(url, "3507")
            return all(r["status"] in ("applied", "quarantined")
                       for s, r in rows.items() if s <= through) and rows
        rows = wait_for(done, timeout=60, message="sync settled")
        applied = {s for s, r in rows.items() if r["status"] == "applied"}
        with rpc(config, SYSTEM, service="records") as records:
            for nip, (name, years) in state_after(
                    [e for e in events if e["sequence"] in applied]).items():
                record = records.get_employee(nip)
                assert (record["name"], {h["tahun"] for h in record["histories"]["kinerja"]}) \
                    == (name, years), nip
        return accounted(url, "3507")

    def signed(events, batch_id=None, secret=None):
        body = json.dumps({"events": events}).encode()
        return body, region_client.batch_headers("3507", malang.key_id, secret or malang.secret,
                                                 body, batch_id=batch_id)

    # in order, then a batch sent again in a new batch (duplicates)
    assert way.send(malang, batches[0]) is None
    assert way.send(malang, batches[0][3:]) is None
    tally = settled()
    assert tally["applied"] == list(range(1, 11)) and tally["duplicate"] == 7
    # reordering: the third batch before the second
    assert way.send(malang, batches[2]) is None
    assert [r["status"] for s, r in inbound(url, "3507").items() if s > 20] == ["waiting"] * 10
    assert way.send(malang, batches[1]) is None
    assert settled()["applied"] == list(range(1, 31))
    # a gap: the fourth batch held back, the fifth and sixth wait for it
    assert way.send(malang, batches[4]) is None and way.send(malang, batches[5]) is None
    gap = wait_status(client, admin, "3507", lambda s: s["held_for_gap"] == 20, "held")
    assert gap["missing"] == [[31, 40]] and gap["received_through"] == 30
    tally = settled()
    assert tally["applied"] == list(range(1, 31)) and tally["waiting"] == list(range(41, 61))
    assert way.send(malang, batches[3]) is None
    assert settled()["applied"] == list(range(1, 61))
    # a replayed batch (the same bytes and headers again) and a re-signed one (the used batch
    # id on another body, signed afresh): refused by the batch id, nothing taken
    body, headers = signed(batches[6])
    assert way.send(malang, batches[6], body=body, headers=headers) is None
    assert way.send(malang, [], body=body, headers=headers) == "batch_replayed"
    body, headers = signed(batches[7], batch_id=headers["X-Simasn-Batch-Id"])
    assert way.send(malang, [], body=body, headers=headers) == "batch_replayed"
    # a bad signature: refused, and its batch id not taken (sent again signed, it counts)
    body, forged = signed(batches[7], secret="bukan-rahasia-daerah")
    assert way.send(malang, [], body=body, headers=forged) == "signature_invalid"
    body, headers = signed(batches[7], batch_id=forged["X-Simasn-Batch-Id"])
    assert way.send(malang, batches[7], body=body, headers=headers) is None
    tally = settled()
    assert tally["applied"] == list(range(1, 81))
    assert tally["rejected"] == (3 if way.name == "amqp" else 0)
    # an invalid record: quarantined with records' reason, the rest applied
    assert way.send(malang, [*batches[8], *batches[9], invalid]) is None
    tally = settled()
    assert tally["applied"] == list(range(1, 101)) and tally["quarantined"] == [101]
    assert inbound(url, "3507")[101]["refusal"]["status"] == 422
    # another region writing a Malang employee: refused by records (403), quarantined there
    target = events[0]["nip"]
    assert way.send(kediri, [change(1, target, data={"changes": {"name": "Bukan Kediri"}})]) \
        is None
    wait_status(client, admin, "3571", lambda s: s["quarantined"] == 1, "quarantined")
    assert inbound(url, "3571")[1]["refusal"]["status"] == 403
    assert accounted(url, "3571") == {"received": 1, "duplicate": 0, "refused": 0,
                                      "rejected": 0, "quarantined": [1]}
    # at the end: records as the feed leaves them, every event of the feed accounted for once
    tally = settled()
    assert tally == {"received": 101, "duplicate": 7, "refused": 0,
                     "rejected": 3 if way.name == "amqp" else 0,
                     "applied": list(range(1, 101)), "quarantined": [101]}
