"""Exports and charts of reports (issue 15 part 5) against real RabbitMQ and PostgreSQL: a small
province registered through records, caught up by reporting, then every format of the employee
list exported as BKD and as a fasilitator and compared row by row with the list
(`find_employees`); each personal export is a disclosure event with the right figures and the
NIPs it released; a statistic (registered here, as any report is) charts as PNG and SVG with
its own figures and exports without a disclosure; an official list's PDF is signed by the
signing service and verifies; nasty inputs are refused naming their field."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import random
import re
import xml.etree.ElementTree as ET
import zlib

import psycopg2
import pytest
from openpyxl import load_workbook
from PIL import Image

from services.records.service import RecordsService
from services.reporting.service import ReportingService
from services.reporting.usecases import exports
from services.signing.service import SigningService
from shared.context import IDEMPOTENCY_KEY
from shared.errors import Forbidden, NotFound
from shared.objectstore import FileSystemStore
from shared.testing import wait_for
from tests.helpers import fetch, raises_code
from tests.records_helpers import ADMIN, AUDITOR, principal
from tests.reporting_helpers import registered_test_reports
from tests.test_reporting_employees import (
    FASIL_DKP,
    build_province,
    call,
    caught_up,
    find_all,
    generate,
)

pytestmark = pytest.mark.timeout(240)
PURPOSE = "bahan rapat Baperjakat Desember 2026"


@pytest.fixture(scope="module", autouse=True)
def test_reports():
    with registered_test_reports():
        yield


@pytest.fixture
def stack(own_database, service_config, container_factory):
    config = {**service_config, "DATABASE_URL": own_database,
              "SUBSCRIPTION_SWEEP_SECONDS": 0.2, "EXPORT_POLL_SECONDS": 0.2,
              # the official list of the whole province (30) is longer than this, one OPD's not
              "EXPORT_SIGNED_MAX_ROWS": 20}
    for cls in (RecordsService, ReportingService, SigningService):
        container_factory(cls, config).start()
    people = generate(30, seed=151)
    build_province(config, people, random.Random(5))
    wait_for(lambda: caught_up(own_database), message="the list caught up with records")
    return config


def export(config, context, name, fmt, **extra) -> dict:
    """Ask for an export and wait until its file is ready."""
    with call(config, context) as reporting:
        started = reporting.start_export(name, {"format": fmt, **extra})
        assert started["status"] == "running"

        def done():
            state = reporting.get_export(name, started["export_id"])
            return state if state["status"] != "running" else None
        state = wait_for(done, timeout=60, message=f"export {fmt} produced")
        assert state["status"] == "ready", state["error"]
    return state


def file_of(config, context, state) -> bytes:
    with call(config, context) as reporting:
        meta = reporting.authorize_export_download(state["report"], state["export_id"])
    data = FileSystemStore(config["DOCUMENT_ROOT"]).read(meta["sha256"])
    assert hashlib.sha256(data).hexdigest() == state["sha256"] and len(data) == state["size"]
    return data


def pdf_strings(data: bytes) -> list[str]:
    """The text shown on the pages of one of our streamed PDFs, in drawing order."""
    shown = []
    for stream in re.findall(rb"stream\n(.*?)\nendstream", data, re.S):
        content = zlib.decompress(stream)
        for text in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", content):
            shown.append(re.sub(rb"\\(.)", rb"\1", text).decode("cp1252"))
    return shown


LIST_FIELDS = ("nip", "name", "gelar_depan", "gelar_belakang", "instansi", "opd_id", "opd_name",
               "unit", "status", "gender", "date_of_birth", "education_id", "golongan",
               "tmt_golongan", "jabatan", "jenis_jabatan", "eselon", "tmt_cpns", "tmt_pns",
               "tmt_pensiun")


def test_every_format_of_the_employee_list_equals_the_list_and_is_a_disclosure(stack,
                                                                               own_database):
    for context, query in ((ADMIN, {"sort": "name"}), (FASIL_DKP, {"gender": "P"})):
        expected = [[("" if item[f] is None else item[f]) for f in LIST_FIELDS]
                    for item in find_all(stack, context, **query)]
        assert expected, "the province has rows to export"
        states = {fmt: export(stack, context, "employees", fmt, params=query, purpose=PURPOSE)
                  for fmt in ("csv", "xlsx", "pdf")}

        lines = list(csv.reader(io.StringIO(file_of(stack, context, states["csv"])
                                            .decode("utf-8-sig"))))
        assert lines[0][0] == "NIP" and lines[1:] == expected

        book = load_workbook(io.BytesIO(file_of(stack, context, states["xlsx"])),
                            read_only=True)
        # (a row's trailing empty cells are not stored: padded back to the columns)
        sheet = [["" if v is None else v for v in row] + [""] * (len(LIST_FIELDS) - len(row))
                 for row in book["Data"].iter_rows(values_only=True)]
        assert sheet[1:] == expected
        assert any(PURPOSE in str(row[0]) for row in book["Keterangan"].iter_rows(
            values_only=True))

        shown = pdf_strings(file_of(stack, context, states["pdf"]))
        nips = [s for s in shown if re.fullmatch(r"\d{18}", s)]
        assert nips == [row[0] for row in expected]  # every row, in the list's order
        assert f"Jumlah baris: {len(expected)}" in shown

        for fmt, state in states.items():
            assert state["rows"] == len(expected) and state["personal"]
            event = fetch(own_database, "SELECT event_type, payload FROM reporting.events "
                                        "WHERE stream_id = %s ORDER BY version",
                          (f"export:{state['export_id']}",))
            assert [e[0] for e in event] == ["ExportRequested", "PersonalDataDisclosed"]
            disclosed = event[1][1]
            assert disclosed["recipient"] == context["actor_id"]
            assert disclosed["recipient_roles"] == context["actor_roles"]
            assert disclosed["purpose"] == PURPOSE and disclosed["format"] == fmt
            assert disclosed["rows"] == disclosed["subjects"] == len(expected)
            assert disclosed["sha256"] == state["sha256"] and disclosed["params"] == query
            subjects = fetch(own_database, "SELECT nip FROM reporting.disclosed_subjects WHERE "
                                           "export_id = %s ORDER BY nip", (state["export_id"],))
            assert [s[0] for s in subjects] == sorted(row[0] for row in expected)
            # and in records' disclosure log (issue 17), under the export's id, before ready
            logged = fetch(own_database, "SELECT channel, recipient_id, basis_kind, purpose, "
                                         "subjects FROM records.disclosures WHERE "
                                         "disclosure_id = %s", (state["export_id"],))
            assert logged == [("export", context["actor_id"], "export", PURPOSE,
                               len(expected))]
            logged = fetch(own_database, "SELECT nip FROM records.disclosure_subjects WHERE "
                                         "disclosure_id = %s ORDER BY nip", (state["export_id"],))
            assert logged == subjects

    # the disclosure log: BKD and auditors; by recipient and by the NIP released
    with call(stack, AUDITOR) as reporting:
        everything = reporting.list_disclosures({})
        assert len(everything) == 6
        mine = reporting.list_disclosures({"account_id": FASIL_DKP["actor_id"]})
        assert {d["recipient"] for d in mine} == {FASIL_DKP["actor_id"]} and len(mine) == 3
        some = lines[1][0]
        about = reporting.list_disclosures({"nip": some})
        assert len(about) == 6 and {d["purpose"] for d in about} == {PURPOSE}
    with call(stack, FASIL_DKP) as reporting, pytest.raises(Forbidden):
        reporting.list_disclosures({})

    # the file is the requester's: nobody else downloads it, even BKD
    with call(stack, ADMIN) as reporting, pytest.raises(NotFound):
        reporting.authorize_export_download("employees", states["csv"]["export_id"])


def test_nasty_export_requests_are_refused_naming_the_field(stack, own_database):
    with call(stack, ADMIN) as reporting:
        for name, payload, code, field in (
                ("gaji", {"format": "csv"}, "report_unknown", "name"),
                ("employees", {"format": "docx", "purpose": PURPOSE}, "validation_failed",
                 "format"),
                ("employees", {"format": "csv"}, "purpose_required", "purpose"),
                ("employees", {"format": "csv", "purpose": "  singkat "}, "purpose_required",
                 "purpose"),
                ("employees", {"format": "csv", "purpose": PURPOSE,
                               "params": {"sort": "gaji"}}, "validation_failed",
                 "params.sort"),
                ("employees", {"format": "csv", "purpose": PURPOSE,
                               "params": {"golongan": "V/z"}}, "validation_failed",
                 "params.golongan"),
                ("test_resmi", {"format": "pdf", "purpose": PURPOSE}, "signer_required",
                 "signer")):
            with raises_code(code) as refused:
                reporting.start_export(name, payload)
            assert refused.value.field == field, (name, payload)
        with raises_code("not_found"):
            reporting.get_export("employees", "not-a-uuid")
    for nobody in (principal("199001012020121001", ["pegawai"]),):
        with call(stack, nobody) as reporting, pytest.raises(Forbidden):
            reporting.start_export("employees", {"format": "csv", "purpose": PURPOSE})
    with call(stack, FASIL_DKP) as reporting, pytest.raises(Forbidden):
        reporting.start_export("test_resmi", {"format": "pdf", "purpose": PURPOSE,
                                              "signer": ADMIN["actor_id"]})
    # a retried request (the same Idempotency-Key): the same export, asked once
    keyed = {**ADMIN, IDEMPOTENCY_KEY: "ekspor-ulang-1"}
    body = {"format": "csv", "purpose": PURPOSE}
    with call(stack, keyed) as reporting:
        first = reporting.start_export("employees", body)
        assert reporting.start_export("employees", body)["export_id"] == first["export_id"]
        with raises_code("idempotency_key_reused"):
            reporting.start_export("employees", {**body, "format": "xlsx"})
    assert fetch(own_database, "SELECT count(*) FROM reporting.events WHERE stream_id = %s",
                 (f"export:{first['export_id']}",))[0][0] >= 1
    assert fetch(own_database, "SELECT count(*) FROM reporting.exports WHERE account_id = %s "
                               "AND format = 'csv' AND report = 'employees'",
                 (ADMIN["actor_id"],))[0][0] == 1


def test_a_statistic_charts_its_own_figures_and_exports_without_disclosure(stack,
                                                                           own_database):
    counts = dict(fetch(own_database, "SELECT golongan, count(*)::int FROM reporting.employees "
                                      "GROUP BY 1"))
    with call(stack, ADMIN) as reporting:
        svg = reporting.chart("test_golongan", {"format": "svg"})
        png = reporting.chart("test_golongan", {"format": "png"})
        with raises_code("not_a_statistic"):
            reporting.chart("employees", {"format": "svg"})
        with raises_code("validation_failed") as refused:
            reporting.chart("test_golongan", {"format": "gif"})
        assert refused.value.field == "format"
    assert svg["content_type"] == "image/svg+xml" and png["content_type"] == "image/png"
    root = ET.fromstring(base64.b64decode(svg["body_base64"]))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Jumlah pegawai per golongan" in texts
    for golongan, count in counts.items():  # each category labelled, its count on its bar
        assert golongan in texts and str(count) in texts
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect")
            if r.get("fill") not in ("#ffffff",)]
    heights = sorted(float(r.get("height")) for r in bars)
    ratio = heights[-1] / max(counts.values())
    assert heights == pytest.approx(sorted(c * ratio for c in counts.values()), abs=0.2)
    raw = base64.b64decode(png["body_base64"])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(raw)) as image:
        image.verify()
    with Image.open(io.BytesIO(raw)) as image:
        assert image.size == (900, 500)

    state = export(stack, ADMIN, "test_golongan", "pdf")  # no purpose needed: nobody named
    shown = pdf_strings(file_of(stack, ADMIN, state))
    assert "Jumlah pegawai per golongan" in shown
    assert state["rows"] == len(counts) and not state["personal"]
    events = fetch(own_database, "SELECT event_type FROM reporting.events WHERE stream_id = %s "
                                 "ORDER BY version", (f"export:{state['export_id']}",))
    assert [e[0] for e in events] == ["ExportRequested", "ReportExported"]
    assert not fetch(own_database, "SELECT 1 FROM reporting.disclosed_subjects WHERE "
                                   "export_id = %s", (state["export_id"],))

    # a fasilitator's chart: their OPDs only
    with call(stack, FASIL_DKP) as reporting:
        theirs = ET.fromstring(base64.b64decode(
            reporting.chart("test_golongan", {"format": "svg"})["body_base64"]))
    seen = dict(fetch(own_database, "SELECT golongan, count(*)::int FROM reporting.employees "
                                    "WHERE instansi = '35' AND opd_id IN ('dkp', 'dinkes') "
                                    "GROUP BY 1"))
    texts = [t.text for t in theirs.iter("{http://www.w3.org/2000/svg}text")]
    for golongan, count in seen.items():
        assert golongan in texts and str(count) in texts


def signed_content(stack, state) -> bytes:
    """The official list's signed PDF, checked by the public verification; its page text."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    with call(stack, ADMIN, "signing") as signing:
        document = signing.get_document(state["document_id"])
        assert document["status"] == "signed" and document["document_key"] == "DAFTAR_RESMI"
        signed_pdf = FileSystemStore(stack["DOCUMENT_ROOT"]).read(document["sha256"])
    with call(stack, {}, "signing") as public:
        answer = public.verify_pdf({"pdf_base64": base64.b64encode(signed_pdf).decode()})
    assert answer["valid"] and answer["status"] == "valid", answer
    kids = PdfFileReader(io.BytesIO(signed_pdf)).root["/Pages"]["/Kids"]
    content = b"".join(kids[index]["/Contents"].data for index in range(len(kids)))
    for group in exports.grouped(state["sha256"]).split():  # the full list's SHA-256
        assert group.encode() in content
    return content


def test_an_official_list_is_signed_by_the_signing_service_and_verifies(stack, own_database):
    # the province's list (30 rows, over EXPORT_SIGNED_MAX_ROWS): bound by its SHA-256 only
    state = export(stack, ADMIN, "test_resmi", "pdf", purpose=PURPOSE,
                   signer=ADMIN["actor_id"])
    assert state["official"] and state["document_id"]
    content = signed_content(stack, state)
    nips = [r[0] for r in fetch(own_database, "SELECT nip FROM reporting.employees")]
    assert len(nips) == state["rows"] == 30
    assert not any(nip.encode() in content for nip in nips)
    assert b"(30) Tj" in content
    disclosed = fetch(own_database, "SELECT payload FROM reporting.events WHERE stream_id = %s "
                                    "AND event_type = 'PersonalDataDisclosed'",
                      (f"export:{state['export_id']}",))[0][0]
    assert disclosed["document_id"] == state["document_id"] and disclosed["rows"] == 30

    # one OPD's list (short): its rows are in the signed document itself, no one else's
    state = export(stack, ADMIN, "test_resmi", "pdf", purpose=PURPOSE,
                   signer=ADMIN["actor_id"], params={"opd_id": "dinkes"})
    content = signed_content(stack, state)
    theirs = {r[0] for r in fetch(own_database, "SELECT nip FROM reporting.employees WHERE "
                                                "opd_id = 'dinkes'")}
    assert 0 < len(theirs) == state["rows"] <= 20
    assert all(nip.encode() in content for nip in theirs)
    assert not any(nip.encode() in content for nip in set(nips) - theirs)

    # a signer without a certificate: signing refuses, the export fails with the reason
    with call(stack, ADMIN) as reporting:
        started = reporting.start_export("test_resmi", {"format": "pdf", "purpose": PURPOSE,
                                                        "signer": "tanpa.sertifikat"})
        failed = wait_for(lambda: (lambda s: s if s["status"] != "running" else None)(
            reporting.get_export("test_resmi", started["export_id"])), timeout=60,
            message="the export refused")
    assert failed["status"] == "failed" and "sertifikat" in failed["error"], failed
    assert [e[0] for e in fetch(own_database, "SELECT event_type FROM reporting.events WHERE "
                                              "stream_id = %s ORDER BY version",
                                (f"export:{started['export_id']}",))] == [
        "ExportRequested", "ExportFailed"]


def write(url: str, statement: str, params=()) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
    finally:
        conn.close()


def test_an_export_whose_worker_vanished_is_taken_over_and_a_live_claim_is_not(
        own_database, service_config, container_factory):
    """An export claimed by a worker whose process died (its runner on the row, its session
    lock gone with it) is produced by another at once; one whose worker is alive (its lock
    held, here by this test's own session) is left to it, however old its claim. No province
    needed: rows written straight into the read model."""
    from shared.claims import ClaimLocks
    from shared.db import make_engine

    config = {**service_config, "DATABASE_URL": own_database}
    container_factory(ReportingService, {**config, "EXPORT_POLL_SECONDS": 3600}).start()
    write(own_database, "INSERT INTO reporting.employees (nip, name, instansi, opd_id, status) "
                        "SELECT (199001012020121000 + g)::text, 'Pegawai ' || g, '35', 'dinkes', "
                        "'PNS' FROM generate_series(1, 40) g")
    body = {"format": "csv", "purpose": PURPOSE}
    with call(config, ADMIN) as reporting:  # the only worker ticks once an hour
        dead, alive = (reporting.start_export("employees", body)["export_id"] for _ in range(2))
    write(own_database, "UPDATE reporting.exports SET runner = 'reporting-dead', claimed_at = "
                        "now() - interval '2 hours' WHERE export_id = %s", (dead,))
    write(own_database, "UPDATE reporting.exports SET runner = 'reporting-alive', claimed_at = "
                        "now() - interval '2 hours' WHERE export_id = %s", (alive,))
    engine = make_engine(own_database)
    live_worker = ClaimLocks(engine, "reporting.export")
    assert live_worker.try_claim(alive)
    request_cleanup = engine.dispose
    container_factory(ReportingService, {**config, "EXPORT_POLL_SECONDS": 0.2}).start()
    # records (the disclosure log) is not running: the file is written but the export is given
    # back unfinished, never ready without its disclosure (fail closed)
    wait_for(lambda: fetch(own_database, "SELECT runner FROM reporting.exports WHERE "
                                         "export_id = %s", (dead,))[0][0] is None,
             timeout=60, message="claimed, then given back for want of the disclosure log")
    with call(config, ADMIN) as reporting:
        assert reporting.get_export("employees", dead)["status"] == "running"
    assert fetch(own_database, "SELECT count(*) FROM records.disclosures") == [(0,)]
    container_factory(RecordsService, config).start()
    with call(config, ADMIN) as reporting:
        later = reporting.start_export("employees", body)["export_id"]
        for export_id in (dead, later):  # oldest first: the dead one's, then the new one
            wait_for(lambda e=export_id: reporting.get_export("employees", e)["status"] ==
                     "ready", timeout=60, message="taken over and produced")
        assert reporting.get_export("employees", dead)["rows"] == 40
        assert reporting.get_export("employees", alive)["status"] == "running"
    assert fetch(own_database, "SELECT runner FROM reporting.exports WHERE export_id = %s",
                 (alive,)) == [("reporting-alive",)]
    assert fetch(own_database, "SELECT subjects FROM records.disclosures WHERE "
                               "disclosure_id = %s", (dead,)) == [(40,)]
    live_worker.close()
    request_cleanup()


def every_page(config, context, name, **params) -> list[dict]:
    with call(config, context) as reporting:
        answer = reporting.report(name, params)
        items, page = answer["items"], 1
        while answer["has_more"]:
            page += 1
            answer = reporting.report(name, {**params, "page": page})
            items += answer["items"]
    return items


def test_the_service_s_own_reports_export_and_chart_as_their_pages_answer(stack, own_database):
    """The reports the service registers itself (not a test's): the DUK's CSV is its pages,
    row for row, a disclosure; its PDF an official list signed by the signing service; the
    headcount's chart carries the headcount's figures; a report counting working days (the
    workload, handed the configured holidays) exports too."""
    pages = every_page(stack, ADMIN, "duk", limit=7)
    assert len(pages) > 7
    with call(stack, ADMIN) as reporting:
        columns = [c["key"] for c in reporting.report("duk", {"limit": 1})["columns"]]
    state = export(stack, ADMIN, "duk", "csv", purpose=PURPOSE)
    lines = list(csv.reader(io.StringIO(file_of(stack, ADMIN, state).decode("utf-8-sig"))))
    assert lines[1:] == [["" if item[k] is None else str(item[k]) for k in columns]
                         for item in pages]
    events = fetch(own_database, "SELECT event_type FROM reporting.events WHERE stream_id = %s "
                                 "ORDER BY version", (f"export:{state['export_id']}",))
    assert [e[0] for e in events] == ["ExportRequested", "PersonalDataDisclosed"]

    signed = export(stack, ADMIN, "duk", "pdf", purpose=PURPOSE, signer=ADMIN["actor_id"])
    assert signed["official"] and signed["rows"] == len(pages)
    signed_content(stack, signed)

    with call(stack, ADMIN) as reporting:
        figures = reporting.report("headcount", {"by": "golongan"})["items"]
        svg = reporting.chart("headcount", {"format": "svg", "by": "golongan"})
    texts = [t.text for t in ET.fromstring(base64.b64decode(svg["body_base64"])).iter(
        "{http://www.w3.org/2000/svg}text")]
    counted = [f for f in figures if f.get("count")]
    assert counted
    for figure in counted:
        assert str(figure["count"]) in texts

    # a forecast per year and OPD is drawn per year, its groups added up; a headcount crossed
    # with a second dimension draws a series per value of that one
    with call(stack, ADMIN) as reporting:
        forecast = reporting.report("retirement_forecast", {"years": 10})["items"]
        drawn = reporting.chart("retirement_forecast", {"format": "svg", "years": 10})
        crossed = reporting.chart("headcount", {"format": "svg", "by": "golongan",
                                                "by2": "gender"})
    per_year: dict = {}
    for item in forecast:
        per_year[str(item["year"])] = per_year.get(str(item["year"]), 0) + item["count"]
    assert per_year, "the province has employees retiring within ten years"
    texts = [t.text for t in ET.fromstring(base64.b64decode(drawn["body_base64"])).iter(
        "{http://www.w3.org/2000/svg}text")]
    for year, count in per_year.items():
        assert year in texts and str(count) in texts, (year, count)
    assert len([t for t in texts if t in per_year]) == len(per_year)  # one bar group a year
    texts = [t.text for t in ET.fromstring(base64.b64decode(crossed["body_base64"])).iter(
        "{http://www.w3.org/2000/svg}text")]
    assert "L" in texts and "P" in texts  # the legend: a series per gender

    workload = export(stack, ADMIN, "monev_workload", "csv")
    assert workload["status"] == "ready" and not workload["personal"]
