"""A completed layanan changes the employee record (issue 13, part 1): each layanan that changes
the record is driven through the real services (records, requests, signing; the outbox relays
publish every event): drafted and submitted by the pegawai, verified by the OPD's fasilitator,
approved with the decree's outcome by an administrator, signed, completed; records then applies
the outcome naming the request, the decree's number and date and the signed document. A
republished event changes nothing twice; a decree that breaks a records rule is dead-lettered
with its reason. One stack is started for the whole module."""

from __future__ import annotations

import itertools
import uuid
from datetime import date

import psycopg2
import pytest
from kombu import Connection
from nameko.containers import get_container_cls
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_waiter

from services.records import domain as records_domain
from services.records import outcomes
from services.records.service import RecordsService
from services.registry import event_registry
from services.requests.domain import add_months, add_years, tmt_pensiun
from services.requests.service import RequestsService
from services.signing.service import SigningService
from shared.calendar import today_wib
from shared.errors import SimasnError
from shared.eventstore import EventStore
from shared.objectstore import FileSystemStore
from shared.relay import event_exchange
from shared.testing import wait_for
from tests.document_samples import pdf_with_text
from tests.helpers import RelayThread, signed
from tests.records_helpers import ADMIN, FASIL, principal

pytestmark = pytest.mark.timeout(120)

VERDICT = {"original": True, "legible": True, "matches_record": True}
_SEQ = itertools.count(1)
TODAY = today_wib()


def first_of_month(day: date, months: int = 0) -> date:
    return add_months(date(day.year, day.month, 1), months)


# -- the rules alone (no services) ------------------------------------------------------------

def _employee(**data) -> records_domain.Employee:
    employee = records_domain.Employee()
    employee.apply("EmployeeRegistered", {
        "nip": "198102032006031001", "name": "Ahmad", "date_of_birth": "1981-02-03",
        "gender": "L", "status": "PNS", "tmt_cpns": "2006-03-01", "opd_id": "dkp",
        "golongan": "III/b", "education_id": "40", **data})
    return employee


def _decree(layanan: str, outcome: dict | None = None, **kw) -> outcomes.Decree:
    return outcomes.Decree(request_id=str(uuid.uuid4()), layanan=layanan, number="800/1/204/2026",
                           date=date(2026, 12, 1), output_sha256="ab" * 32,
                           outcome=outcome or {}, **kw)


def _problems(employee, decree) -> set[str]:
    with pytest.raises(records_domain.RuleViolation) as caught:
        outcomes.changes_for(employee, decree)
    return {p.code for p in caught.value.problems}


def test_the_rules_of_each_outcome_refuse_what_a_decree_cannot_mean():
    employee = _employee()
    assert _problems(employee, _decree("KENAIKAN_PANGKAT", {
        "golongan": "III/b", "tmt": "2026-12-01"})) == {"kp_not_higher"}
    assert "golongan_unknown" in _problems(employee, _decree("KENAIKAN_PANGKAT", {
        "golongan": "V/a", "tmt": "2026-12-01"}))
    assert _problems(employee, _decree("KENAIKAN_PANGKAT", {"golongan": "III/c"})) == {
        "outcome_missing"}
    assert _problems(employee, _decree("CPNS_PNS", {"tmt_pns": "2026-12-01"})) == {
        "status_not_cpns"}
    assert _problems(employee, _decree("PENSIUN", {"tmt_pensiun": "2026-12-15"})) == {
        "tmt_pensiun_not_first"}
    assert _problems(employee, _decree("MUTASI", {
        "opd_id": "nowhere", "unit": "x", "jenis_jabatan": "pelaksana", "nama_jabatan": "y",
        "tmt": "2026-12-01"})) == {"opd_unknown"}
    assert _problems(employee, _decree("UJIAN_DINAS")) == {"ujian_dinas_golongan"}
    assert _problems(employee, _decree("IZIN_CERAI")) == {"layanan_without_outcome"}

    # a kenaikan pangkat: the pangkat entry cites the decree; the current golongan follows
    out = outcomes.changes_for(employee, _decree("KENAIKAN_PANGKAT", {
        "golongan": "III/c", "tmt": "2026-12-01"}, options={"jenis_kp": "reguler"}))
    assert out.changes == {"golongan": "III/c"}
    assert out.entries == [("pangkat", {"golongan": "III/c", "tmt": "2026-12-01",
                                        "sk_nomor": "800/1/204/2026",
                                        "sk_tanggal": "2026-12-01", "jenis_kp": "reguler"})]
    # a retired employee's record takes no further outcome
    retired = _employee(status="Pensiun")
    assert _problems(retired, _decree("KARPEG", {"nomor_kartu": "B 123456"})) == {
        "employee_retired"}


def test_an_applied_outcome_is_in_the_fold_and_never_applied_twice():
    employee = _employee()
    decree = _decree("SATYALANCANA", {"tingkat": 10})
    out = outcomes.changes_for(employee, decree)
    event_type, payload = outcomes.applied_event(decree, out, ["e1"])
    employee.apply(event_type, payload)
    entry = employee.histories["penghargaan"][0]
    assert entry["nama"] == "Satyalancana Karya Satya X Tahun"
    assert entry["request_id"] == decree.request_id and entry["output_sha256"] == "ab" * 32
    assert _problems(employee, decree) == {"outcome_applied"}
    assert _problems(employee, _decree("SATYALANCANA", {"tingkat": 10})) == {
        "penghargaan_exists"}


def _replacement(decree: outcomes.Decree, number="800/9/204/2026", day=date(2026, 12, 8),
                 sha="cd" * 32) -> outcomes.Replacement:
    return outcomes.Replacement(request_id=decree.request_id, layanan=decree.layanan,
                                number=number, date=day, output_sha256=sha,
                                document_id=str(uuid.uuid5(uuid.NAMESPACE_URL, sha)))


def test_a_reissued_decree_moves_the_outcome_s_entries_in_the_fold():
    """E-27: the entries an outcome added cite the re-issued decree; the one they cited stays
    in their history; a repeat, an older replacement or one for an outcome never applied
    changes nothing."""
    employee = _employee()
    log = []

    def apply(event_type, payload):
        log.append(_Recorded(event_type, payload))
        employee.apply(event_type, payload)

    decree = _decree("KENAIKAN_PANGKAT", {"golongan": "III/c", "tmt": "2026-12-01"},
                     document_id="11111111-1111-4111-8111-111111111111")
    apply(*outcomes.applied_event(decree, outcomes.changes_for(employee, decree), ["kp-1"]))
    apply("HistoryEntryRecorded", {"history": "pangkat", "entry_id": "by-hand",
                                   "entry": {"golongan": "III/a", "tmt": "2010-04-01"}})
    replacement = _replacement(decree)
    event_type, payload = outcomes.replacement_event(employee, replacement)
    assert event_type == "LayananDecreeReplaced"
    assert [(e["history"], e["entry_id"]) for e in payload["entries"]] == [("pangkat", "kp-1")]
    assert payload["previous"] == {"decree_number": "800/1/204/2026",
                                   "decree_date": "2026-12-01", "output_sha256": "ab" * 32,
                                   "document_id": decree.document_id}
    event_registry("records").get(event_type).validate(payload)
    apply(event_type, payload)

    entry = next(e for e in employee.histories["pangkat"] if e["entry_id"] == "kp-1")
    assert (entry["sk_nomor"], entry["sk_tanggal"]) == ("800/9/204/2026", "2026-12-08")
    assert (entry["output_sha256"], entry["document_id"]) == ("cd" * 32,
                                                              replacement.document_id)
    assert (entry["golongan"], entry["tmt"], entry["request_id"]) == (
        "III/c", "2026-12-01", decree.request_id)  # what the decree decided stays
    assert entry["replaced_decrees"] == [payload["previous"]]
    untouched = next(e for e in employee.histories["pangkat"] if e["entry_id"] == "by-hand")
    assert "replaced_decrees" not in untouched and "sk_nomor" not in untouched
    assert employee.data["golongan"] == "III/c"
    assert employee.outcomes[decree.request_id]["decree_number"] == "800/9/204/2026"

    assert outcomes.replacement_event(employee, replacement) is None  # a repeat
    assert outcomes.replacement_event(employee, _replacement(decree, sha="ab" * 32)) is None
    again = _replacement(decree, number="800/12/204/2026", sha="ef" * 32)
    apply(*outcomes.replacement_event(employee, again))  # a second correction: both kept
    entry = next(e for e in employee.histories["pangkat"] if e["entry_id"] == "kp-1")
    assert [d["decree_number"] for d in entry["replaced_decrees"]] == [
        "800/1/204/2026", "800/9/204/2026"]
    assert outcomes.replacement_event(employee, replacement) is None  # an old one again
    never = _decree("KENAIKAN_PANGKAT", {"golongan": "III/d", "tmt": "2027-12-01"})
    assert outcomes.replacement_event(employee, _replacement(never)) is None

    # the audit fold (simasn audit replay) rebuilds the same record from the same events
    folded = records_domain._fold_employee({}, _Recorded("EmployeeRegistered", {
        **_employee().data, "nip": "198102032006031001"}))
    for event in log:
        folded = records_domain._fold_employee(folded, event)
    assert folded["histories"] == employee.histories
    assert folded["outcomes"] == employee.outcomes and folded["data"] == employee.data


def test_a_reissued_letter_keeps_the_keppres_an_entry_cites():
    employee = _employee()
    decree = _decree("SATYALANCANA", {"tingkat": 10, "keppres_nomor": "12/TK/2026",
                                      "keppres_tanggal": "2026-08-17"})
    employee.apply(*outcomes.applied_event(decree, outcomes.changes_for(employee, decree),
                                           ["s-1"]))
    _, payload = outcomes.replacement_event(employee, _replacement(decree))
    assert payload["entries"][0]["changes"] == {"output_sha256": "cd" * 32,
                                                "document_id": _replacement(decree).document_id}


def test_a_replacement_of_before_issue_13_or_withheld_is_ignored():
    from services.records.usecases import employees

    v1 = event_registry("requests").get("OutputReplaced").upcast(
        {"output_sha256": "cd" * 32, "nip": "198102032006031001"}, 1)
    assert v1["layanan"] is None
    # nothing to read: the use case returns before it opens the record
    assert employees.replace_layanan_decree(None, str(uuid.uuid4()), v1) is None
    assert employees.replace_layanan_decree(None, str(uuid.uuid4()), {
        "confidential": True, "withheld": True}) is None


class _Recorded:
    def __init__(self, event_type, payload):
        self.event_type, self.payload = event_type, payload


# -- through the real services ------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(vhost_pipeline, rabbit_manager, database_url, tmp_path_factory, keystore_dir,
          caller_keys, request):
    """Records, requests and signing running (each its own container) with the requests and
    signing relays, shared by the module's tests."""
    from urllib.parse import urlparse

    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    with vhost_pipeline.get() as vhost:
        config = {
            **caller_keys,
            "AMQP_URI": f"{uri.scheme}://{uri.netloc}/{vhost}",
            "DATABASE_URL": database_url,
            "DOCUMENT_ROOT": str(tmp_path_factory.mktemp("outcomes") / "documents"),
            "SIGNING_KEYSTORE_DIR": str(keystore_dir),
            "SIGNING_VERIFY_URL": "https://simasn.test/verifikasi",
            "LOG_LEVEL": "WARNING",
            "CONSUMER_RETRY_ATTEMPTS": 3,
            "CONSUMER_RETRY_BASE_DELAY": 0.01,
        }
        containers = {}
        for service in (RecordsService, RequestsService, SigningService):
            container = get_container_cls(config)(service, config)
            container.start()
            containers[service.name] = container
        relay_name = f"outcomes-{uuid.uuid4().hex[:8]}"
        relays = [RelayThread(database_url, source, source, config["AMQP_URI"], name=relay_name)
                  for source in ("requests", "signing")]
        for relay in relays:
            relay.__enter__()
        try:
            yield Stack(config, containers, FileSystemStore(config["DOCUMENT_ROOT"]),
                        database_url, relay_name)
        finally:
            for relay in relays:
                relay.__exit__(None, None, None)
            for container in containers.values():
                container.kill()


class Stack:
    def __init__(self, config, containers, store, database_url, relay_name):
        self.config, self.containers, self.store = config, containers, store
        self.database_url, self.relay_name = database_url, relay_name

    def call(self, context, service):
        return ServiceRpcProxy(service, self.config,
                               context_data=signed(context, self.config))

    def record(self, nip):
        with self.call(ADMIN, "records") as records:
            return records.get_employee(nip)

    def query(self, sql, params=()):
        conn = psycopg2.connect(self.database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()


def register(stack, *, born=date(1981, 2, 3), tmt_cpns=date(2006, 3, 1), histories=(),
             **changes) -> str:
    """A PNS of OPD dkp (III/a, S-1) with the given history entries."""
    nip = f"{born:%Y%m%d}{tmt_cpns:%Y%m}1{next(_SEQ):03d}"
    person = {"nip": nip, "name": "Ahmad Fauzi", "date_of_birth": born.isoformat(),
              "gender": "L", "status": "PNS", "tmt_cpns": tmt_cpns.isoformat(), "opd_id": "dkp",
              "golongan": "III/a", "education_id": "40", **changes}
    with stack.call(ADMIN, "records") as records:
        record = records.register_employee(person, "data awal")
        for history, entry in histories:
            record = records.record_history(nip, {
                "history": history, "entry": entry, "expected_version": record["version"],
                "reason": "riwayat awal"})
    return nip


def skp(years: int) -> list:
    return [("kinerja", {"tahun": TODAY.year - i, "predikat": "Baik"})
            for i in range(1, years + 1)]


def pangkat(golongan: str, years_ago: int) -> tuple:
    return ("pangkat", {"golongan": golongan, "tmt": first_of_month(TODAY, -12 * years_ago)
                        .isoformat()})


def approved(stack, nip, layanan, outcome, options=None) -> dict:
    """Drafted and submitted by the pegawai with the documents it asks for, verified by the
    fasilitator, approved by the administrator with `outcome`: the request in signing."""
    pegawai = principal(nip, ["pegawai"])
    with stack.call(FASIL, "records") as records:
        sha = records.upload_document(stack.store.put(pdf_with_text(marker=f"{layanan}{nip}"))
                                      .sha256, "berkas.pdf", nip)["sha256"]
    with stack.call(pegawai, "requests") as requests:
        draft = requests.create_request({"layanan": layanan, "nip": nip,
                                         "options": options or {}})
        with pytest.raises(SimasnError) as missing:
            requests.submit_request(draft["request_id"], {"expected_version": draft["version"]})
        assert missing.value.code == "documents_missing", missing.value
        changed = requests.change_request_documents(draft["request_id"], {
            "documents": {code: sha for code in missing.value.details["missing"]},
            "expected_version": draft["version"]})
        submitted = requests.submit_request(draft["request_id"],
                                            {"expected_version": changed["version"]})
    rid = submitted["request_id"]
    with stack.call(FASIL, "requests") as requests:
        claimed = requests.start_verification(rid, {"expected_version": submitted["version"]})
        verified = requests.verify_request(rid, {
            "expected_version": claimed["version"],
            "checks": {code: VERDICT for code in changed["documents"]}})
    with stack.call(ADMIN, "requests") as requests:
        return requests.decide_request(rid, {"expected_version": verified["version"],
                                             "approve": True, "reason": "memenuhi syarat",
                                             "outcome": outcome})


def completed(stack, nip, layanan, outcome, options=None) -> tuple[dict, dict]:
    """The request through to completion and the record once its outcome is applied:
    (request, record)."""
    request = approved(stack, nip, layanan, outcome, options)
    assert request["state"] == "signing" and request["outcome"] == outcome
    rid = request["request_id"]

    def done():
        with stack.call(ADMIN, "requests") as requests:
            current = requests.get_request(rid)
        return current if current["state"] == "completed" else None

    request = wait_for(done, timeout=60, message=f"{layanan} signed and completed")
    assert request["decree_number"] and request["decree_date"]
    record = wait_for(lambda: (lambda r: r if applied_by(r, rid) else None)(stack.record(nip)),
                      timeout=30, message=f"the {layanan} outcome applied to the record")
    return request, record


def applied_by(record: dict, request_id: str) -> list:
    return [e for entries in record["histories"].values() for e in entries
            if e.get("request_id") == request_id]


def outcome_event(stack, nip, request_id) -> dict:
    """The LayananOutcomeApplied of `request_id` in the records log (it names the decree)."""
    rows = stack.query("SELECT payload, metadata FROM records.events WHERE stream_id = %s AND "
                       "event_type = 'LayananOutcomeApplied'", (f"employee:{nip}",))
    found = [(p, m) for p, m in rows if p["request_id"] == request_id]
    assert len(found) == 1, rows
    return found[0]


def wait_applied(stack, nip, request_id) -> dict:
    """For outcomes that change data pokok only: wait for the event in the records log."""
    def applied():
        rows = stack.query("SELECT payload FROM records.events WHERE stream_id = %s AND "
                           "event_type = 'LayananOutcomeApplied'", (f"employee:{nip}",))
        return [p for (p,) in rows if p["request_id"] == request_id]

    return wait_for(applied, timeout=60, message="the outcome applied")[0]


def completed_data(stack, nip, layanan, outcome, options=None) -> tuple[dict, dict, dict]:
    """As `completed`, for a layanan that changes data pokok: (request, record, event)."""
    request = approved(stack, nip, layanan, outcome, options)
    rid = request["request_id"]
    event = wait_applied(stack, nip, rid)
    with stack.call(ADMIN, "requests") as requests:
        request = requests.get_request(rid)
    return request, stack.record(nip), event


def assert_cites_decree(event: dict, request: dict, layanan: str) -> None:
    assert event["request_id"] == request["request_id"] and event["layanan"] == layanan
    assert event["decree_number"] == request["decree_number"]
    assert event["decree_date"] == request["decree_date"]
    assert event["output_sha256"] == request["output_sha256"]
    assert event["document_id"]


def assert_entry_cites_decree(entry: dict, request: dict) -> None:
    assert entry["request_id"] == request["request_id"]
    assert entry["output_sha256"] == request["output_sha256"] and entry["document_id"]
    assert entry["sk_nomor"] == request["decree_number"]


def test_kenaikan_pangkat_adds_the_pangkat_and_raises_the_golongan(stack):
    nip = register(stack, histories=[pangkat("III/b", 5), *skp(2)])
    tmt = first_of_month(TODAY, 2).isoformat()
    request, record = completed(stack, nip, "KENAIKAN_PANGKAT",
                                {"golongan": "III/c", "tmt": tmt}, {"jenis_kp": "reguler"})
    entry = record["histories"]["pangkat"][-1]
    assert (entry["golongan"], entry["tmt"], entry["jenis_kp"]) == ("III/c", tmt, "reguler")
    assert entry["sk_tanggal"] == request["decree_date"]
    assert_entry_cites_decree(entry, request)
    assert record["golongan"] == "III/c"
    event, metadata = outcome_event(stack, nip, request["request_id"])
    assert_cites_decree(event, request, "KENAIKAN_PANGKAT")
    assert metadata["actor_id"] == "service:records" and metadata["causation_id"]
    (stored,) = stack.query("SELECT record FROM records.employees WHERE nip = %s", (nip,))[0]
    assert stored == record  # the projection row is the replayed record (full view)
    with stack.call(ADMIN, "signing") as signing:
        document = signing.request_output(request["request_id"])
    assert (document["document_id"], document["number"]) == (event["document_id"],
                                                              request["decree_number"])


def test_kgb_adds_the_gaji_berkala(stack):
    last = first_of_month(TODAY, -23)
    nip = register(stack, histories=[pangkat("III/c", 6), ("gaji_berkala", {
        "tmt": last.isoformat(), "gaji_pokok": 4_000_000})])
    tmt = add_years(last, 2).isoformat()
    request, record = completed(stack, nip, "KGB", {"tmt": tmt, "gaji_pokok": 4_150_000,
                                                   "masa_kerja_tahun": 16})
    entry = record["histories"]["gaji_berkala"][-1]
    assert (entry["tmt"], entry["gaji_pokok"], entry["golongan"]) == (tmt, 4_150_000, "III/c")
    assert entry["masa_kerja_tahun"] == 16
    assert_entry_cites_decree(entry, request)


def test_mutasi_moves_the_employee_to_the_new_opd_unit_and_jabatan(stack):
    nip = register(stack)
    tmt = first_of_month(TODAY, 1).isoformat()
    request, record = completed(stack, nip, "MUTASI", {
        "opd_id": "bappeda", "unit": "Bidang Perencanaan Ekonomi",
        "jenis_jabatan": "pelaksana", "nama_jabatan": "Analis Perencanaan", "tmt": tmt})
    assert (record["opd_id"], record["unit"]) == ("bappeda", "Bidang Perencanaan Ekonomi")
    entry = record["histories"]["jabatan"][-1]
    assert (entry["nama_jabatan"], entry["unit"], entry["tmt"]) == (
        "Analis Perencanaan", "Bidang Perencanaan Ekonomi", tmt)
    assert_entry_cites_decree(entry, request)
    rows = stack.query("SELECT opd_id FROM records.employees WHERE nip = %s", (nip,))
    assert rows == [("bappeda",)]  # the projection the OPD scoping reads
    with stack.call(FASIL, "records") as dkp, pytest.raises(SimasnError):
        dkp.get_employee(nip)  # no longer the old OPD's fasilitator's employee


def test_pindah_jabatan_pelaksana_changes_the_jabatan_and_unit(stack):
    nip = register(stack, histories=[("jabatan", {
        "jenis_jabatan": "pelaksana", "nama_jabatan": "Pengadministrasi Umum",
        "tmt": "2016-01-01"})])
    tmt = first_of_month(TODAY, 1).isoformat()
    request, record = completed(stack, nip, "PINDAH_JAB_PELAKSANA", {
        "nama_jabatan": "Pengolah Data Kepegawaian", "unit": "Subbagian Umum", "tmt": tmt},
        {"jenis_pindah": "unor_dan_jabatan"})
    entry = record["histories"]["jabatan"][-1]
    assert (entry["jenis_jabatan"], entry["nama_jabatan"], entry["unit"]) == (
        "pelaksana", "Pengolah Data Kepegawaian", "Subbagian Umum")
    assert record["unit"] == "Subbagian Umum"
    assert_entry_cites_decree(entry, request)


def test_pensiun_sets_the_status_and_tmt_pensiun(stack):
    born = date(TODAY.year - 58, TODAY.month, 1)
    born = add_months(born, 3)
    nip = register(stack, born=born, tmt_cpns=date(born.year + 25, 3, 1))
    tmt = tmt_pensiun({"date_of_birth": born.isoformat()}).isoformat()
    request, record, event = completed_data(stack, nip, "PENSIUN", {"tmt_pensiun": tmt,
                                                                    "jenis_pensiun": "BUP"})
    assert (record["status"], record["tmt_pensiun"], record["jenis_pensiun"]) == (
        "Pensiun", tmt, "BUP")
    assert_cites_decree(event, request, "PENSIUN")
    with stack.call(ADMIN, "records") as records:
        history = records.field_history(nip, "status")
    assert [h["value"] for h in history] == ["PNS", "Pensiun"]
    assert request["decree_number"] in history[-1]["reason"]


def test_cpns_to_pns_sets_the_status_and_tmt_pns(stack):
    tmt_cpns = first_of_month(TODAY, -14)
    nip = register(stack, born=date(1998, 5, 6), tmt_cpns=tmt_cpns, status="CPNS",
                   histories=[("diklat", {"jenis": "latsar", "nama": "Pelatihan Dasar CPNS",
                                          "selesai": first_of_month(TODAY, -6).isoformat()})])
    tmt = first_of_month(TODAY, 1).isoformat()
    request, record, event = completed_data(stack, nip, "CPNS_PNS", {"tmt_pns": tmt})
    assert (record["status"], record["tmt_pns"]) == ("PNS", tmt)
    assert_cites_decree(event, request, "CPNS_PNS")


def test_satyalancana_adds_the_tanda_jasa(stack):
    nip = register(stack)
    request, record = completed(stack, nip, "SATYALANCANA", {"tingkat": 10},
                                {"berubah_status": "tidak", "pernah_menerima": "tidak"})
    entry = record["histories"]["penghargaan"][-1]
    assert entry["nama"] == "Satyalancana Karya Satya X Tahun"
    assert_entry_cites_decree(entry, request)
    # the requests rule now counts it: the next one due is the 20-year medal
    with stack.call(ADMIN, "requests") as requests:
        check = requests.eligibility("SATYALANCANA", nip)
    milestone = next(c for c in check["checks"] if c["rule"] == "service_milestone")
    assert "20 tahun" in milestone["message"], milestone


@pytest.mark.parametrize("layanan, options, number, field", [
    ("KARIS_KARSU", {"alasan": "baru"}, "KS-0012345678", "nomor_karis_karsu"),
    ("KARPEG", {"alasan": "baru"}, "B 123456", "nomor_karpeg"),
    ("TASPEN", {"alasan": "baru"}, "TSP-19810203001", "nomor_taspen"),
    ("KARTU_KESEHATAN", {"tanggungan": "sendiri"}, "0001234567890", "nomor_bpjs"),
])
def test_a_card_layanan_records_the_card_number(stack, layanan, options, number, field):
    nip = register(stack, marital_status="Kawin", histories=[("keluarga", {
        "hubungan": "istri", "nama": "Siti Aminah", "tanggal_nikah": "2010-06-01"})])
    request, record, event = completed_data(stack, nip, layanan, {"nomor_kartu": number},
                                            options)
    assert record[field] == number
    assert event["changes"] == {field: number}
    assert_cites_decree(event, request, layanan)


def test_izin_belajar_adds_the_study_permit(stack):
    nip = register(stack, histories=skp(1))
    request, record = completed(stack, nip, "IZIN_BELAJAR", {
        "education_id": "45", "programme": "Magister Administrasi Publik",
        "institution": "Universitas Airlangga", "mulai": first_of_month(TODAY, 2).isoformat()})
    entry = record["histories"]["izin_belajar"][-1]
    assert (entry["education_id"], entry["institution"]) == ("45", "Universitas Airlangga")
    assert_entry_cites_decree(entry, request)


@pytest.mark.parametrize("layanan, histories, education, jenis", [
    ("UJIAN_DINAS", [pangkat("III/d", 3)], "40", "ujian_dinas_tingkat_ii"),
    ("UPKP", [pangkat("II/c", 2)], "40", "upkp"),
    ("UJIAN_KP_PEMBINA", [pangkat("III/d", 2), *skp(2)], "45", "kp_pembina"),
])
def test_an_exam_layanan_records_the_pass(stack, layanan, histories, education, jenis):
    nip = register(stack, histories=histories, education_id=education,
                   golongan="II/a" if layanan == "UPKP" else "III/a")
    request, record = completed(stack, nip, layanan, {})
    entry = record["histories"]["ujian"][-1]
    assert entry["jenis"] == jenis and entry["tanggal"] == request["decree_date"]
    assert_entry_cites_decree(entry, request)


def deliver_again(stack, handler: str, event_type: str, position: int) -> None:
    """The requests event at `position` reaches records' `handler` twice more: the relay starts
    again from before it (as after a crash before its checkpoint: the `consumed` row stops it),
    then the same event under another position (a log read again from elsewhere: the record
    itself knows it is applied)."""

    def at(wanted):
        return lambda worker_ctx, result, exc_info: worker_ctx.args[0]["position"] == wanted

    with entrypoint_waiter(_records_container(stack), handler, callback=at(position),
                           timeout=30):
        stack.query("UPDATE requests.relay_checkpoint SET position = %s WHERE relay = %s "
                    "RETURNING position", (position - 1, stack.relay_name))
    conn = psycopg2.connect(stack.database_url)
    try:
        (event,) = EventStore("requests", event_registry("requests")).read_all(conn, position,
                                                                                 1)
    finally:
        conn.close()
    envelope = {**event.envelope("requests"), "position": 10**9 + position}
    with entrypoint_waiter(_records_container(stack), handler, callback=at(10**9 + position),
                           timeout=30):
        with Connection(stack.config["AMQP_URI"]) as amqp:
            amqp.Producer().publish(envelope, exchange=event_exchange("requests"),
                                    routing_key=event_type, serializer="json",
                                    declare=[event_exchange("requests")])


def _records_container(stack):
    return stack.containers["records"]


def test_a_republished_completion_changes_nothing_twice(stack):
    nip = register(stack, histories=skp(1))
    request, record = completed(stack, nip, "IZIN_BELAJAR", {
        "education_id": "45", "programme": "Magister Manajemen",
        "institution": "Universitas Brawijaya"})
    rid = request["request_id"]
    (position,) = stack.query("SELECT position FROM requests.events WHERE stream_id = %s AND "
                              "event_type = 'RequestCompleted'", (f"request:{rid}",))[0]

    deliver_again(stack, "on_request_completed", "RequestCompleted", position)
    after = stack.record(nip)
    assert len(after["histories"]["izin_belajar"]) == 1
    assert not stack.query("SELECT 1 FROM records.dead_letters WHERE consumer = %s AND "
                           "position IN (%s, %s)", ("records.on_request_completed", position,
                                                    10**9 + position))
    assert after["version"] == record["version"]
    assert len(stack.query("SELECT 1 FROM records.events WHERE stream_id = %s AND "
                           "event_type = 'LayananOutcomeApplied'", (f"employee:{nip}",))) == 1


def test_a_decree_the_record_cannot_take_is_dead_lettered_with_its_reason(stack):
    nip = register(stack, histories=[pangkat("III/b", 5), *skp(2)])
    before = stack.record(nip)
    # the approver typed the golongan the employee already has; the decree is signed anyway
    request = approved(stack, nip, "KENAIKAN_PANGKAT",
                       {"golongan": "III/b", "tmt": first_of_month(TODAY, 2).isoformat()},
                       {"jenis_kp": "reguler"})
    rid = request["request_id"]
    (position,) = wait_for(lambda: stack.query(
        "SELECT position FROM requests.events WHERE stream_id = %s AND "
        "event_type = 'RequestCompleted'", (f"request:{rid}",)), timeout=60,
        message="the request completed")[0]
    parked = wait_for(lambda: stack.query(
        "SELECT error_type, error, status FROM records.dead_letters WHERE consumer = %s AND "
        "source = 'requests' AND position = %s", ("records.on_request_completed", position)),
        timeout=30, message="the outcome dead-lettered")
    error_type, error, status = parked[0]
    assert (error_type, status) == ("RecordRejected", "parked")
    assert "kp_not_higher" in error and "III/b" in error
    after = stack.record(nip)
    assert after["version"] == before["version"] and after["golongan"] == "III/a"


# -- a re-issued decree (E-27) -------------------------------------------------------------------

def reissued(stack, request_id: str) -> tuple[dict, dict]:
    """An administrator re-issues the request's signed output: (old document, new one)."""
    with stack.call(ADMIN, "signing") as signing:
        old = signing.request_output(request_id)
        new = signing.reissue_document(old["document_id"], {"reason": "salah ketik pada SK"})
    assert new["status"] == "signed" and new["number"] != old["number"]
    return old, new


def replaced_events(stack, nip) -> list:
    return stack.query("SELECT payload, metadata, version FROM records.events WHERE "
                       "stream_id = %s AND event_type = 'LayananDecreeReplaced'",
                       (f"employee:{nip}",))


def test_a_reissued_kenaikan_pangkat_decree_reaches_the_record_once(stack):
    from services.records import projection
    from shared import audit

    nip = register(stack, histories=[pangkat("III/b", 5), *skp(2)])
    tmt = first_of_month(TODAY, 2).isoformat()
    request, record = completed(stack, nip, "KENAIKAN_PANGKAT",
                                {"golongan": "III/c", "tmt": tmt}, {"jenis_kp": "reguler"})
    rid = request["request_id"]
    old, new = reissued(stack, rid)

    def moved():
        current = stack.record(nip)
        (entry,) = applied_by(current, rid)
        return (current, entry) if entry["document_id"] == new["document_id"] else None

    after, entry = wait_for(moved, timeout=60, message="the record cites the re-issued decree")
    with stack.call(ADMIN, "requests") as requests:
        current = requests.get_request(rid)
    assert (current["decree_number"], current["output_sha256"]) == (new["number"], new["sha256"])
    assert (entry["sk_nomor"], entry["sk_tanggal"]) == (new["number"], current["decree_date"])
    assert entry["output_sha256"] == new["sha256"]
    assert (entry["golongan"], entry["tmt"], entry["jenis_kp"]) == ("III/c", tmt, "reguler")
    assert entry["replaced_decrees"] == [{
        "decree_number": old["number"], "decree_date": request["decree_date"],
        "output_sha256": old["sha256"], "document_id": old["document_id"]}]
    assert after["golongan"] == "III/c" and after["version"] == record["version"] + 1
    (payload, metadata, version), = replaced_events(stack, nip)
    assert (payload["request_id"], payload["layanan"]) == (rid, "KENAIKAN_PANGKAT")
    assert payload["previous"]["document_id"] == old["document_id"]
    assert metadata["actor_id"] == "service:records" and metadata["causation_id"]
    assert old["number"] in metadata["reason"] and new["number"] in metadata["reason"]

    # the requests log's OutputReplaced v2 names the new decree and the one it replaces
    ((position, replaced),) = stack.query(
        "SELECT position, payload FROM requests.events WHERE stream_id = %s AND "
        "event_type = 'OutputReplaced'", (f"request:{rid}",))
    assert (replaced["decree_number"], replaced["document_id"]) == (new["number"],
                                                                    new["document_id"])
    assert (replaced["previous_document_id"], replaced["previous_output_sha256"]) == (
        old["document_id"], old["sha256"])

    deliver_again(stack, "on_output_replaced", "OutputReplaced", position)
    assert stack.record(nip) == after
    assert len(replaced_events(stack, nip)) == 1
    assert not stack.query("SELECT 1 FROM records.dead_letters WHERE consumer = %s",
                           ("records.on_output_replaced",))

    # the replay (simasn audit replay) and the projection check agree with the record
    conn = psycopg2.connect(stack.database_url)
    try:
        state = audit.replay(conn, "records", f"employee:{nip}",
                             registry=event_registry("records"))["state"]
        report = projection.check(conn)
    finally:
        conn.close()
    assert state["histories"]["pangkat"] == after["histories"]["pangkat"]
    assert nip not in {n for n, _ in report.mismatched}
    (stored,) = stack.query("SELECT record FROM records.employees WHERE nip = %s", (nip,))[0]
    assert stored == after


def test_a_reissued_decree_whose_outcome_was_never_applied_changes_nothing(stack):
    nip = register(stack, histories=[pangkat("III/b", 5), *skp(2)])
    # the approver typed the golongan the employee already has: records dead-letters it
    request = approved(stack, nip, "KENAIKAN_PANGKAT",
                       {"golongan": "III/b", "tmt": first_of_month(TODAY, 2).isoformat()},
                       {"jenis_kp": "reguler"})
    rid = request["request_id"]
    wait_for(lambda: stack.query(
        "SELECT 1 FROM records.dead_letters d JOIN requests.events e ON e.position = "
        "d.position WHERE d.source = 'requests' AND d.consumer = 'records.on_request_completed' "
        "AND e.stream_id = %s",
        (f"request:{rid}",)), timeout=60, message="the outcome dead-lettered")
    before = stack.record(nip)
    _, new = reissued(stack, rid)
    (position,) = wait_for(lambda: stack.query(
        "SELECT position FROM requests.events WHERE stream_id = %s AND "
        "event_type = 'OutputReplaced'", (f"request:{rid}",)), timeout=60,
        message="the request points at the re-issued decree")[0]
    wait_for(lambda: stack.query(
        "SELECT 1 FROM records.consumed WHERE consumer = 'records.on_output_replaced' AND "
        "source = 'requests' AND position = %s", (position,)), timeout=30,
        message="records took the replacement")
    assert stack.record(nip) == before
    assert not replaced_events(stack, nip)
    assert not stack.query("SELECT 1 FROM records.dead_letters WHERE consumer = %s AND "
                           "position = %s", ("records.on_output_replaced", position))
