"""Rendering and signing output documents with pyHanko, and judging signed PDFs (issue 6):
every layanan's output renders and signs; pyHanko's own validation against the development root
reports it intact and valid with the expected signer; changed bytes, an untrusted or an expired
certificate are reported as such."""

import copy
import datetime as dt
import io

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from services.signing import domain, pdfsign, pki, render
from services.signing.keystore import Keystore
from shared.reference import layanan_catalogue, output_documents
from tests.helpers import raises_code

pytestmark = pytest.mark.timeout(120)

RECORD = {"nip": "198503152010011002", "name": "Budi Santoso", "gelar_depan": "Ir.",
          "gelar_belakang": "M.T.", "birth_place": "Malang", "date_of_birth": "1985-03-15",
          "golongan": "III/c", "opd_id": "dkp", "unit": "Bidang Perikanan Tangkap",
          "tmt_cpns": "2010-01-01", "status": "PNS"}


@pytest.fixture(scope="module")
def keystore(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    pki.init(directory, [{"account_id": "kepala.bkd", "name": "Dr. Budi Santoso, M.Si.",
                          "jabatan": "Kepala Badan Kepegawaian Daerah"}])
    return Keystore(directory)


def rendered(key: str, number_seq: int = 1) -> bytes:
    template = domain.template_for(key)
    values = domain.context_for(template, RECORD, {
        "options": {"alasan": "baru", "jenis_kp": "reguler"},
        "wilayah": "Kabupaten Malang", "tahun": "2026", "ringkasan": "12 data berselisih"})
    return render.render(template, values, number=domain.document_number(template, number_seq,
                                                                          2026),
                         document_id="0c8f6a52-3c39-4a39-9d1e-3a4c1b0e7f11",
                         verification_url="https://simasn.test/verifikasi/0c8f6a52",
                         place_date="Surabaya, 1 Desember 2026")


def signed(keystore, key: str = "KGB") -> bytes:
    return pdfsign.sign(rendered(key), keystore.signer("kepala.bkd"),
                        name="Dr. Budi Santoso, M.Si.",
                        jabatan="Kepala Badan Kepegawaian Daerah", reason=f"{key} nomor 1")


def root_der(issued) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(
        issued.certificate.public_bytes(serialization.Encoding.DER))


def test_every_layanan_has_an_output_template():
    codes = {entry["kode"] for entry in layanan_catalogue()["layanan"]}
    assert len(codes) == 18
    assert codes <= set(output_documents()["documents"])
    # and the documents other services ask for
    assert {"TEGURAN_TERTULIS", "BERITA_ACARA_REKONSILIASI"} <= set(
        output_documents()["documents"])


def test_no_two_document_types_share_a_number_series(monkeypatch):
    assert domain.template_problems() == []
    documents = copy.deepcopy(output_documents())
    documents["documents"]["TEGURAN_TERTULIS"]["klasifikasi"] = \
        documents["documents"]["HUKDIS"]["klasifikasi"]
    monkeypatch.setattr(domain, "output_documents", lambda: documents)
    (problem,) = domain.template_problems()
    assert "TEGURAN_TERTULIS" in problem and "kembar" in problem


@pytest.mark.parametrize("key", sorted(output_documents()["documents"]))
def test_every_output_renders_signs_and_validates_with_pyhanko(keystore, key):
    pdf = signed(keystore, key)
    assert pdf.startswith(b"%PDF")
    reader = PdfFileReader(io.BytesIO(pdf))
    status = validate_pdf_signature(
        reader.embedded_signatures[0],
        ValidationContext(trust_roots=keystore.trust_roots, allow_fetching=False))
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.signing_cert.subject.native["common_name"] == "Dr. Budi Santoso, M.Si."
    verdict = pdfsign.verify(pdf, keystore.trust_roots)
    assert verdict.valid and verdict.code == "valid" and verdict.pades_level == "B-B"
    assert verdict.signer_serial == "kepala.bkd"
    page_text = reader.root["/Pages"]["/Kids"][0]["/Contents"].data
    template = domain.template_for(key)
    assert template["klasifikasi"].encode() in page_text  # the number is on the page


def test_the_letter_carries_the_record_and_the_number():
    template = domain.template_for("KGB")
    values = domain.context_for(template, RECORD, {})
    assert values["nama_lengkap"] == "Ir. Budi Santoso, M.T."
    assert values["pangkat_golongan"] == "Penata, III/c"
    assert values["tempat_tanggal_lahir"] == "Malang, 15 Maret 1985"
    assert values["opd_id"] == "Dinas Kelautan dan Perikanan"
    assert domain.document_number(template, 17, 2026) == "800.1.11.4/17/204/2026"
    # a field the record lacks reads "-", never a KeyError or "None"
    assert domain.fill("{opsi_tidak_ada} {tmt_pns}", domain.context_for(template, RECORD, {})) \
        == "- -"


def test_a_changed_byte_in_the_signed_ranges_breaks_the_signature(keystore):
    pdf = signed(keystore)
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    start, first_length, second_start, second_length = embedded.byte_range if hasattr(
        embedded, "byte_range") else embedded.sig_object["/ByteRange"]
    positions = list(range(start, first_length, max(1, first_length // 60)))
    positions += list(range(second_start, second_start + second_length,
                            max(1, second_length // 20)))
    positions += [first_length - 1, second_start + second_length - 1]
    for position in positions:
        changed = bytearray(pdf)
        changed[position] ^= 0x01
        verdict = pdfsign.verify(bytes(changed), keystore.trust_roots)
        assert not verdict.valid, (position, verdict)


def test_a_changed_byte_in_the_signature_padding_is_caught(keystore):
    pdf = signed(keystore)
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    _, first_length, second_start, _ = embedded.sig_object["/ByteRange"]
    padding_position = second_start - 10  # zeros at the end of /Contents, outside the ranges
    changed = bytearray(pdf)
    assert changed[padding_position:padding_position + 1] == b"0"
    changed[padding_position] = ord("1")
    verdict = pdfsign.verify(bytes(changed), keystore.trust_roots)
    assert not verdict.valid and verdict.code == "modified"


def test_bytes_appended_after_signing_are_not_valid(keystore):
    verdict = pdfsign.verify(signed(keystore) + b"\n% appended\n", keystore.trust_roots)
    assert not verdict.valid and verdict.code == "modified"


def test_an_untrusted_certificate_is_reported_as_such(keystore):
    stranger = pki.make_root("CA lain")
    verdict = pdfsign.verify(signed(keystore), [root_der(stranger)])
    assert not verdict.valid and verdict.code == "untrusted"
    # a signer whose certificate another CA issued, checked against our root
    impostor = pki.issue(stranger, "Dr. Budi Santoso, M.Si.")
    other = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12_bytes(impostor, [], b"pw", "x"), [], passphrase=b"pw")
    pdf = pdfsign.sign(rendered("KGB"), other, name="Dr. Budi Santoso, M.Si.", jabatan="x",
                       reason="palsu")
    verdict = pdfsign.verify(pdf, keystore.trust_roots)
    assert not verdict.valid and verdict.code == "untrusted"


def test_an_expired_certificate_is_reported_as_such(keystore, tmp_path):
    root = pki.make_root("Root uji")
    expired = pki.issue(root, "Pejabat Lama", not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                        not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    signer = signers.SimpleSigner.load_pkcs12_data(
        pki.pkcs12_bytes(expired, [], b"pw", "x"), [], passphrase=b"pw")
    pdf = pdfsign.sign(rendered("KGB"), signer, name="Pejabat Lama", jabatan="x", reason="x")
    verdict = pdfsign.verify(pdf, [root_der(root)])
    assert not verdict.valid and verdict.code == "expired"


def test_not_a_pdf_and_an_unsigned_pdf(keystore):
    assert pdfsign.verify(b"MZ\x90\x00 not a pdf", keystore.trust_roots).code == "not_a_pdf"
    assert pdfsign.verify(rendered("KGB"), keystore.trust_roots).code == "no_signature"
    assert pdfsign.verify(b"%PDF-1.7\n%%EOF", keystore.trust_roots).code in (
        "not_a_pdf", "no_signature")


def test_the_key_store_names_a_missing_signer_and_picks_up_a_new_one(tmp_path):
    pki.init(tmp_path, [])
    store = Keystore(tmp_path)
    with raises_code("no_signing_key") as missing:
        store.signer("pejabat.baru")
    assert missing.value.field == "signer"
    pki.add_signer(tmp_path, "pejabat.baru", "Pejabat Baru", "Sekretaris BKD")
    assert store.has("pejabat.baru")  # no restart
    assert store.identity("pejabat.baru").jabatan == "Sekretaris BKD"
    assert store.signer("pejabat.baru").signing_cert.subject.native["serial_number"] == \
        "pejabat.baru"
    with pytest.raises(FileExistsError):
        pki.init(tmp_path, [])  # a second root would orphan every signed document
